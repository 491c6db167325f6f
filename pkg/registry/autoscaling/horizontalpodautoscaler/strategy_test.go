package horizontalpodautoscaler

import (
	"context"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/api/scheme"
)

func requestContext(version, subresource string) context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "autoscaling", APIVersion: version, Resource: "horizontalpodautoscalers", Subresource: subresource,
	})
}

var target = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}

// toInternal converts a served object into skiff's internal form (the v2
// struct), as the API server does for requests.
func toInternal(t *testing.T, obj runtime.Object) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	out, err := scheme.Scheme.ConvertToVersion(obj, schema.GroupVersion{Group: "autoscaling", Version: runtime.APIVersionInternal})
	if err != nil {
		t.Fatal(err)
	}
	hpa, ok := out.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		t.Fatalf("converted to %T", out)
	}
	return hpa
}

func toV1(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
	t.Helper()
	out := &autoscalingv1.HorizontalPodAutoscaler{}
	if err := scheme.Scheme.Convert(hpa, out, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestV1TargetCPUBecomesAMetric(t *testing.T) {
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"},
			MinReplicas:                    ptr.To[int32](1),
			MaxReplicas:                    5,
			TargetCPUUtilizationPercentage: ptr.To[int32](60),
		},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := scheme.Scheme.Convert(v1, hpa, nil); err != nil {
		t.Fatal(err)
	}
	want := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](60)},
		},
	}}
	if !apiequality.Semantic.DeepEqual(hpa.Spec.Metrics, want) {
		t.Errorf("metrics = %+v", hpa.Spec.Metrics)
	}
	back := toV1(t, hpa)
	if !apiequality.Semantic.DeepEqual(back.Spec, v1.Spec) || len(back.Annotations) != 0 {
		t.Errorf("round trip: spec %+v annotations %v", back.Spec, back.Annotations)
	}
}

func TestV2FieldsSurviveV1RoundTrip(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "default", Annotations: map[string]string{"keep": "me"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: target,
			MinReplicas:    ptr.To[int32](2),
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{
					Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("100Mi")),
				}},
			}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](60)},
			},
		},
	}
	v1 := toV1(t, hpa)
	if v1.Annotations["autoscaling.alpha.kubernetes.io/metrics"] == "" || v1.Annotations["autoscaling.alpha.kubernetes.io/behavior"] == "" {
		t.Fatalf("v1 annotations = %v, want the v2-only fields kept", v1.Annotations)
	}
	if v1.Spec.TargetCPUUtilizationPercentage != nil {
		t.Errorf("targetCPUUtilizationPercentage = %d without a CPU metric", *v1.Spec.TargetCPUUtilizationPercentage)
	}
	back := toInternal(t, v1)
	if !apiequality.Semantic.DeepEqual(back.Spec, hpa.Spec) {
		t.Errorf("spec after v2 -> v1 -> v2 = %+v, want %+v", back.Spec, hpa.Spec)
	}
	if len(back.Annotations) != 1 || back.Annotations["keep"] != "me" {
		t.Errorf("annotations after round trip = %v", back.Annotations)
	}
}

func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "default", ResourceVersion: "1"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: target, MaxReplicas: 5},
	}
	scheme.Scheme.Default(hpa)
	return hpa
}

func TestPrepareForCreate(t *testing.T) {
	hpa := newHPA()
	hpa.Annotations = map[string]string{"autoscaling.alpha.kubernetes.io/metrics": "[]", "keep": "me"}
	hpa.Status.DesiredReplicas = 3
	strategy.PrepareForCreate(requestContext("v2", ""), hpa)
	if hpa.Generation != 1 || hpa.Status.DesiredReplicas != 0 {
		t.Errorf("generation %d status %+v", hpa.Generation, hpa.Status)
	}
	if len(hpa.Annotations) != 1 || hpa.Annotations["keep"] != "me" {
		t.Errorf("annotations = %v, want the round-trip ones dropped", hpa.Annotations)
	}
	if errs := rest.ValidateCreate(requestContext("v2", ""), hpa, strategy); len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestPrepareForUpdate(t *testing.T) {
	old := newHPA()
	old.Generation = 1
	old.Status.CurrentReplicas = 2
	hpa := old.DeepCopy()
	hpa.Spec.MaxReplicas = 8
	hpa.Status.CurrentReplicas = 7
	strategy.PrepareForUpdate(requestContext("v2", ""), hpa, old)
	if hpa.Generation != 2 || hpa.Status.CurrentReplicas != 2 {
		t.Errorf("generation %d status %+v", hpa.Generation, hpa.Status)
	}

	status := old.DeepCopy()
	status.Spec.MaxReplicas = 9
	status.Status.CurrentReplicas = 4
	statusStrategy.PrepareForUpdate(requestContext("v2", "status"), status, old)
	if status.Spec.MaxReplicas != 5 || status.Status.CurrentReplicas != 4 || status.Generation != 1 {
		t.Errorf("status update: spec %+v status %+v generation %d", status.Spec, status.Status, status.Generation)
	}
}

func TestValidateInBothVersions(t *testing.T) {
	for _, version := range []string{"v1", "v2"} {
		hpa := newHPA()
		hpa.Spec.MinReplicas = ptr.To[int32](6)
		errs := rest.ValidateCreate(requestContext(version, ""), hpa, strategy)
		if len(errs) != 1 || errs[0].Field != "spec.maxReplicas" || !strings.Contains(errs[0].Detail, "must be greater than or equal to `minReplicas`") {
			t.Errorf("%s: errors = %v", version, errs)
		}
	}
}
