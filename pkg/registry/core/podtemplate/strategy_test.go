package podtemplate

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGeneration(t *testing.T) {
	pt := &corev1.PodTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "pt", Namespace: "ns"},
		Template:   corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
	}
	strategy.PrepareForCreate(context.Background(), pt)
	if pt.Generation != 1 {
		t.Fatalf("generation on create = %d, want 1", pt.Generation)
	}
	labelled := pt.DeepCopy()
	labelled.Labels = map[string]string{"a": "b"}
	strategy.PrepareForUpdate(context.Background(), labelled, pt)
	if labelled.Generation != 1 {
		t.Errorf("generation after a label change = %d, want 1", labelled.Generation)
	}
	changed := pt.DeepCopy()
	changed.Template.Spec.Containers[0].Image = "nginx"
	strategy.PrepareForUpdate(context.Background(), changed, pt)
	if changed.Generation != 2 || changed.Template.Spec.Containers[0].Image != "nginx" {
		t.Errorf("after a template change: generation %d image %q", changed.Generation, changed.Template.Spec.Containers[0].Image)
	}
}
