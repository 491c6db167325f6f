package generic

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	api "k8s.io/kubernetes/pkg/apis/core"
)

func TestApplyInternal(t *testing.T) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "stale", Containers: []corev1.Container{{Name: "c"}}},
	}
	old := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}}
	err := ApplyInternal(pod, old, func(in, oldIn *api.Pod) {
		in.Spec.NodeName = oldIn.Spec.NodeName
		in.Spec.Containers = nil
		in.Status.Phase = api.PodRunning
	})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != "n1" || pod.Spec.Containers != nil || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("changes not written back: %+v", pod)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" {
		t.Errorf("type meta lost: %+v", pod.TypeMeta)
	}

	var gotOld *api.Pod
	if err := ApplyInternal(pod, nil, func(_, oldIn *api.Pod) { gotOld = oldIn }); err != nil || gotOld != nil {
		t.Errorf("nil old: got %v, %v", gotOld, err)
	}
}
