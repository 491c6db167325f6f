package daemonset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext() context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "apps", APIVersion: "v1", Resource: "daemonsets",
	})
}

func newDaemonSet(annotations map[string]string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default", ResourceVersion: "1", Annotations: annotations},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ds"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ds"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	scheme.Scheme.Default(ds)
	return ds
}

func TestPrepareForCreateTemplateGeneration(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        string
	}{
		{"unset", nil, "1"},
		{"kept when set", map[string]string{appsv1.DeprecatedTemplateGeneration: "5"}, "5"},
		{"at least 1", map[string]string{appsv1.DeprecatedTemplateGeneration: "0"}, "1"},
		{"unreadable", map[string]string{appsv1.DeprecatedTemplateGeneration: "x"}, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDaemonSet(tc.annotations)
			ds.Status.NumberReady = 3
			strategy.PrepareForCreate(requestContext(), ds)
			if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != tc.want {
				t.Errorf("template generation = %q, want %q", got, tc.want)
			}
			if ds.Generation != 1 || ds.Status.NumberReady != 0 {
				t.Errorf("generation %d, status %+v", ds.Generation, ds.Status)
			}
			if errs := rest.ValidateCreate(requestContext(), ds, strategy); len(errs) != 0 {
				t.Errorf("unexpected errors: %v", errs)
			}
		})
	}
}

func TestPrepareForUpdateGenerations(t *testing.T) {
	tests := []struct {
		name               string
		change             func(*appsv1.DaemonSet)
		generation         int64
		templateGeneration string
	}{
		{"no change", func(*appsv1.DaemonSet) {}, 4, "2"},
		{"template", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "nginx:2" }, 5, "3"},
		{"other spec", func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = 10 }, 5, "2"},
		{"user sets the annotation", func(ds *appsv1.DaemonSet) {
			ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "40"}
		}, 4, "2"},
		{"user drops the annotation", func(ds *appsv1.DaemonSet) { ds.Annotations = nil }, 4, "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newDaemonSet(map[string]string{appsv1.DeprecatedTemplateGeneration: "2", "keep": "me"})
			old.Generation = 4
			ds := old.DeepCopy()
			tc.change(ds)
			strategy.PrepareForUpdate(requestContext(), ds, old)
			if ds.Generation != tc.generation {
				t.Errorf("generation = %d, want %d", ds.Generation, tc.generation)
			}
			if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != tc.templateGeneration {
				t.Errorf("template generation = %q, want %q", got, tc.templateGeneration)
			}
			if old.Annotations[appsv1.DeprecatedTemplateGeneration] != "2" {
				t.Errorf("the stored object was modified")
			}
		})
	}
}

func TestWarningsOnUpdateOnlyForTemplateChanges(t *testing.T) {
	old := newDaemonSet(map[string]string{appsv1.DeprecatedTemplateGeneration: "1"})
	ds := old.DeepCopy()
	ds.Spec.Template.Annotations = map[string]string{"scheduler.alpha.kubernetes.io/critical-pod": ""}
	strategy.PrepareForUpdate(requestContext(), ds, old)
	if w := strategy.WarningsOnUpdate(requestContext(), ds, old); len(w) == 0 {
		t.Errorf("no warning for a deprecated template annotation")
	}
	unchanged := old.DeepCopy()
	strategy.PrepareForUpdate(requestContext(), unchanged, old)
	if w := strategy.WarningsOnUpdate(requestContext(), unchanged, old); len(w) != 0 {
		t.Errorf("warnings without a template change: %v", w)
	}
}

func TestStatusUpdateKeepsSpec(t *testing.T) {
	old := newDaemonSet(map[string]string{appsv1.DeprecatedTemplateGeneration: "1"})
	ds := old.DeepCopy()
	ds.Spec.MinReadySeconds = 30
	ds.Status.DesiredNumberScheduled = 2
	statusStrategy.PrepareForUpdate(requestContext(), ds, old)
	if ds.Spec.MinReadySeconds != 0 || ds.Status.DesiredNumberScheduled != 2 {
		t.Errorf("spec %+v status %+v", ds.Spec.MinReadySeconds, ds.Status)
	}
}
