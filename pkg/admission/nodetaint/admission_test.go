package nodetaint

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
)

func TestTaintsNewNodes(t *testing.T) {
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	other := corev1.Taint{Key: "other", Effect: corev1.TaintEffectNoExecute}
	tests := []struct {
		name     string
		existing []corev1.Taint
		want     []corev1.Taint
	}{
		{"untainted", nil, []corev1.Taint{notReady}},
		{"already tainted", []corev1.Taint{notReady}, []corev1.Taint{notReady}},
		{"other taints kept", []corev1.Taint{other}, []corev1.Taint{other, notReady}},
	}
	for _, tc := range tests {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: tc.existing}}
		a := admission.NewAttributesRecord(node, nil, corev1.SchemeGroupVersion.WithKind("Node"), "", "n",
			corev1.SchemeGroupVersion.WithResource("nodes"), "", admission.Create, nil, false, nil)
		if err := New().Admit(context.Background(), a, nil); err != nil {
			t.Fatal(err)
		}
		if len(node.Spec.Taints) != len(tc.want) {
			t.Errorf("%s: taints = %v, want %v", tc.name, node.Spec.Taints, tc.want)
			continue
		}
		for i := range tc.want {
			if !node.Spec.Taints[i].MatchTaint(&tc.want[i]) {
				t.Errorf("%s: taints = %v, want %v", tc.name, node.Spec.Taints, tc.want)
			}
		}
	}
}
