package replicaset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func newReplicaSet() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"app": "rs"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rs"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	scheme.Scheme.Default(rs)
	return rs
}

func TestPrepareForUpdate(t *testing.T) {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	old := newReplicaSet()
	old.Generation = 1
	old.Status.Replicas = 1

	annotated := old.DeepCopy()
	annotated.Annotations = map[string]string{"a": "b"}
	strategy.PrepareForUpdate(ctx, annotated, old)
	if annotated.Generation != 1 {
		t.Errorf("annotations bumped the generation of a replica set: %d", annotated.Generation)
	}

	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](2)
	scaled.Status.Replicas = 5
	strategy.PrepareForUpdate(ctx, scaled, old)
	if scaled.Generation != 2 || scaled.Status.Replicas != 1 {
		t.Errorf("generation %d status.replicas %d", scaled.Generation, scaled.Status.Replicas)
	}

	status := old.DeepCopy()
	status.Spec.Replicas = ptr.To[int32](7)
	status.Status.Replicas = 3
	statusStrategy.PrepareForUpdate(ctx, status, old)
	if *status.Spec.Replicas != 1 || status.Status.Replicas != 3 {
		t.Errorf("status update: spec.replicas %d status.replicas %d", *status.Spec.Replicas, status.Status.Replicas)
	}
}

func TestSelectableFields(t *testing.T) {
	rs := newReplicaSet()
	rs.Status.Replicas = 3
	labels, fields, err := getAttrs(rs)
	if err != nil {
		t.Fatal(err)
	}
	if labels["app"] != "rs" || fields["status.replicas"] != "3" || fields["metadata.name"] != "rs" || fields["metadata.namespace"] != "default" {
		t.Errorf("labels %v fields %v", labels, fields)
	}
	if _, _, err := getAttrs(&appsv1.Deployment{}); err == nil {
		t.Errorf("no error for a deployment")
	}
}
