package defaulttolerationseconds

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
)

func TestAddsMissingTolerations(t *testing.T) {
	seconds := int64(60)
	tests := []struct {
		name     string
		existing []corev1.Toleration
		want     int
	}{
		{"none", nil, 2},
		{"tolerates not-ready", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds}}, 2},
		{"tolerates everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, 1},
		{"NoSchedule only", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, 3},
	}
	for _, tc := range tests {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Tolerations: tc.existing}}
		a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
			corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
		if err := New(DefaultSeconds, DefaultSeconds).Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		if len(pod.Spec.Tolerations) != tc.want {
			t.Errorf("%s: tolerations = %v, want %d", tc.name, pod.Spec.Tolerations, tc.want)
		}
		for _, tol := range pod.Spec.Tolerations[len(tc.existing):] {
			if tol.TolerationSeconds == nil || *tol.TolerationSeconds != 300 || tol.Effect != corev1.TaintEffectNoExecute {
				t.Errorf("%s: added %+v", tc.name, tol)
			}
		}
	}
}
