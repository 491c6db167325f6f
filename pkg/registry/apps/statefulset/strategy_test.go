package statefulset

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext() context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "apps", APIVersion: "v1", Resource: "statefulsets",
	})
}

func newStatefulSet() *appsv1.StatefulSet {
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "web",
			Replicas:    ptr.To[int32](1),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	scheme.Scheme.Default(ss)
	return ss
}

func TestDecodedClaimTemplatesCarryTheirKind(t *testing.T) {
	// Defaulting (which the codec runs on every decode, storage reads
	// included) gives claim templates upstream's apiVersion and kind.
	ss := newStatefulSet()
	if tm := ss.Spec.VolumeClaimTemplates[0].TypeMeta; tm.APIVersion != "v1" || tm.Kind != "PersistentVolumeClaim" {
		t.Errorf("claim template type = %+v", tm)
	}
}

func TestPrepareForCreate(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.VolumeClaimTemplates[0].TypeMeta = metav1.TypeMeta{}
	ss.Status.Replicas = 4
	strategy.PrepareForCreate(requestContext(), ss)
	if ss.Generation != 1 || ss.Status.Replicas != 0 {
		t.Errorf("generation %d status %+v", ss.Generation, ss.Status)
	}
	if tm := ss.Spec.VolumeClaimTemplates[0].TypeMeta; tm.APIVersion != "v1" || tm.Kind != "PersistentVolumeClaim" {
		t.Errorf("claim template type = %+v", tm)
	}
	if errs := rest.ValidateCreate(requestContext(), ss, strategy); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestPrepareForUpdateGeneration(t *testing.T) {
	old := newStatefulSet()
	old.Generation = 2
	same := old.DeepCopy()
	strategy.PrepareForUpdate(requestContext(), same, old)
	if same.Generation != 2 {
		t.Errorf("generation bumped without a change: %d", same.Generation)
	}
	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](3)
	scaled.Status.Replicas = 9
	strategy.PrepareForUpdate(requestContext(), scaled, old)
	if scaled.Generation != 3 || scaled.Status.Replicas != 0 {
		t.Errorf("generation %d status %+v", scaled.Generation, scaled.Status)
	}
}

func TestValidateUpdateForbidsClaimTemplateChanges(t *testing.T) {
	old := newStatefulSet()
	ss := old.DeepCopy()
	ss.Spec.VolumeClaimTemplates[0].Name = "other"
	errs := rest.ValidateUpdate(requestContext(), ss, old, strategy)
	if len(errs) != 1 || errs[0].Field != "spec.volumeClaimTemplates" || !strings.Contains(errs[0].Error(), "field is immutable") {
		t.Errorf("errors = %v", errs)
	}
}

func TestWarnings(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.RevisionHistoryLimit = ptr.To[int32](-1)
	warnings := strategy.WarningsOnCreate(requestContext(), ss)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "spec.revisionHistoryLimit: a negative value") {
		t.Errorf("warnings = %v", warnings)
	}
}
