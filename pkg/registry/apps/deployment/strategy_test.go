package deployment

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext(subresource string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "apps", APIVersion: "v1", Resource: "deployments", Subresource: subresource,
	})
}

// newDeployment returns a valid deployment with upstream's defaults, as the
// codec hands it to the strategy.
func newDeployment() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"app": "d"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}},
				},
			},
		},
	}
	scheme.Scheme.Default(d)
	return d
}

func TestPrepareForCreateResetsStatusAndGeneration(t *testing.T) {
	d := newDeployment()
	d.Generation = 7
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ObservedGeneration: 4}

	strategy.PrepareForCreate(requestContext(""), d)

	if d.Generation != 1 {
		t.Errorf("generation = %d, want 1", d.Generation)
	}
	if !apiequality.Semantic.DeepEqual(d.Status, appsv1.DeploymentStatus{}) {
		t.Errorf("status = %+v, want empty", d.Status)
	}
}

func TestPrepareForUpdateGeneration(t *testing.T) {
	tests := []struct {
		name   string
		change func(*appsv1.Deployment)
		want   int64
	}{
		{"no change", func(*appsv1.Deployment) {}, 5},
		{"replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](9) }, 6},
		{"paused", func(d *appsv1.Deployment) { d.Spec.Paused = true }, 6},
		{"template image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:2" }, 6},
		{"annotation", func(d *appsv1.Deployment) { d.Annotations = map[string]string{"a": "b"} }, 6},
		{"rollback request", func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{appsv1.DeprecatedRollbackTo: "1"}
		}, 6},
		{"label only", func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} }, 5},
		{"status only (dropped)", func(d *appsv1.Deployment) { d.Status.Replicas = 4 }, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newDeployment()
			old.Generation = 5
			old.Status.Replicas = 1
			d := old.DeepCopy()
			tc.change(d)
			strategy.PrepareForUpdate(requestContext(""), d, old)
			if d.Generation != tc.want {
				t.Errorf("generation = %d, want %d", d.Generation, tc.want)
			}
			if d.Status.Replicas != 1 {
				t.Errorf("status.replicas = %d, want the stored 1", d.Status.Replicas)
			}
		})
	}
}

func TestStatusUpdateKeepsSpecAndLabels(t *testing.T) {
	old := newDeployment()
	old.Generation = 3
	d := old.DeepCopy()
	d.Spec.Replicas = ptr.To[int32](10)
	d.Labels = map[string]string{"changed": "yes"}
	d.Status = appsv1.DeploymentStatus{Replicas: 2, ObservedGeneration: 3}

	statusStrategy.PrepareForUpdate(requestContext("status"), d, old)

	if *d.Spec.Replicas != 2 || d.Labels["app"] != "d" || d.Labels["changed"] != "" {
		t.Errorf("spec or labels changed through /status: replicas %d, labels %v", *d.Spec.Replicas, d.Labels)
	}
	if d.Status.Replicas != 2 {
		t.Errorf("status not written: %+v", d.Status)
	}
	if d.Generation != 3 {
		t.Errorf("generation = %d, want 3", d.Generation)
	}
	reset := statusStrategy.GetResetFields()["apps/v1"]
	if reset == nil || !strings.Contains(reset.String(), ".metadata.labels") || !strings.Contains(reset.String(), ".spec") {
		t.Errorf("status reset fields = %v, want spec and metadata.labels", reset)
	}
}

func TestValidate(t *testing.T) {
	d := newDeployment()
	d.Spec.Template.Labels = map[string]string{"app": "other"}
	errs := rest.ValidateCreate(requestContext(""), d, strategy)
	if len(errs) != 1 || errs[0].Field != "spec.template.metadata.labels" || !strings.Contains(errs[0].Error(), "`selector` does not match template `labels`") {
		t.Fatalf("errors = %v, want the selector mismatch", errs)
	}

	d = newDeployment()
	d.Annotations = map[string]string{appsv1.DeprecatedRollbackTo: "latest"}
	errs = rest.ValidateCreate(requestContext(""), d, strategy)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[deprecated.deployment.rollback.to]" {
		t.Fatalf("errors = %v, want the unreadable rollback annotation", errs)
	}
}

func TestValidateUpdateImmutableSelector(t *testing.T) {
	old := newDeployment()
	d := old.DeepCopy()
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d", "tier": "web"}}
	d.Spec.Template.Labels = map[string]string{"app": "d", "tier": "web"}
	errs := rest.ValidateUpdate(requestContext(""), d, old, strategy)
	if len(errs) != 1 || errs[0].Field != "spec.selector" || !strings.Contains(errs[0].Error(), "field is immutable") {
		t.Fatalf("errors = %v, want spec.selector immutable", errs)
	}
}

func TestWarningsOnCreate(t *testing.T) {
	d := newDeployment()
	d.Name = "not.a.label"
	warnings := strategy.WarningsOnCreate(requestContext(""), d)
	if len(warnings) == 0 || !strings.HasPrefix(warnings[0], "metadata.name: this is used in Pod names and hostnames") {
		t.Errorf("warnings = %v, want the DNS label warning", warnings)
	}
}
