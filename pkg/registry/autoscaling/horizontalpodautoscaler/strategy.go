// Package horizontalpodautoscaler serves HorizontalPodAutoscalers, with
// their status subresource, in autoscaling/v2 and autoscaling/v1.
//
// Objects are autoscaling/v2 structs in memory and in storage (skiff's
// internal version of the kind); autoscaling/v1 requests and responses are
// converted with upstream's conversions, which keep the fields v1 lacks in
// autoscaling.alpha.kubernetes.io annotations.
package horizontalpodautoscaler

import (
	"context"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/pkg/apis/autoscaling"
	autoscalingvalidation "k8s.io/kubernetes/pkg/apis/autoscaling/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// generationGate makes the HPA keep metadata.generation.
	generationGate featuregate.Feature = "HPAGeneration"
	// configurableToleranceGate allows behavior.scale{Up,Down}.tolerance.
	configurableToleranceGate featuregate.Feature = "HPAConfigurableTolerance"
	// scaleToZeroGate allows minReplicas 0.
	scaleToZeroGate featuregate.Feature = "HPAScaleToZero"
)

// autoscalerStrategy keeps the status out of user writes and bumps
// metadata.generation on spec changes.
type autoscalerStrategy struct {
	generic.Strategy
}

var strategy = autoscalerStrategy{generic.NewStrategy(true)}

func (autoscalerStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("autoscaling/v1", "autoscaling/v2")
}

func (autoscalerStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	// Behind a gate so that clients setting the generation themselves can
	// opt out for a release.
	if utilfeature.DefaultFeatureGate.Enabled(generationGate) {
		hpa.Generation = 1
	}
	dropRoundTripAnnotations(hpa)
	dropDisabledFields(hpa, nil)
}

func (autoscalerStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	hpa, oldHPA := obj.(*autoscalingv2.HorizontalPodAutoscaler), old.(*autoscalingv2.HorizontalPodAutoscaler)
	hpa.Status = oldHPA.Status
	dropRoundTripAnnotations(hpa)
	dropDisabledFields(hpa, oldHPA)
	if utilfeature.DefaultFeatureGate.Enabled(generationGate) && !apiequality.Semantic.DeepEqual(hpa.Spec, oldHPA.Spec) {
		hpa.Generation = oldHPA.Generation + 1
	}
}

// dropRoundTripAnnotations removes the annotations in which autoscaling/v1
// carries v2 fields. A v1 request has had them turned into fields by the
// conversion already; upstream's v2 conversion drops them from v2 requests
// too, so they are never stored.
func dropRoundTripAnnotations(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	hpa.Annotations, _ = autoscaling.DropRoundTripHorizontalPodAutoscalerAnnotations(hpa.Annotations)
}

// dropDisabledFields clears the scaling tolerances while their feature is
// off, unless the stored object already uses them.
func dropDisabledFields(hpa, oldHPA *autoscalingv2.HorizontalPodAutoscaler) {
	if utilfeature.DefaultFeatureGate.Enabled(configurableToleranceGate) || toleranceInUse(oldHPA) || hpa.Spec.Behavior == nil {
		return
	}
	for _, rules := range []*autoscalingv2.HPAScalingRules{hpa.Spec.Behavior.ScaleDown, hpa.Spec.Behavior.ScaleUp} {
		if rules != nil {
			rules.Tolerance = nil
		}
	}
}

func toleranceInUse(hpa *autoscalingv2.HorizontalPodAutoscaler) bool {
	if hpa == nil || hpa.Spec.Behavior == nil {
		return false
	}
	for _, rules := range []*autoscalingv2.HPAScalingRules{hpa.Spec.Behavior.ScaleDown, hpa.Spec.Behavior.ScaleUp} {
		if rules != nil && rules.Tolerance != nil {
			return true
		}
	}
	return false
}

func (autoscalerStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(hpa *autoscaling.HorizontalPodAutoscaler) field.ErrorList {
		return autoscalingvalidation.ValidateHorizontalPodAutoscaler(hpa, validationOptions(hpa, nil))
	})
}

func (autoscalerStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(hpa, oldHPA *autoscaling.HorizontalPodAutoscaler) field.ErrorList {
		return autoscalingvalidation.ValidateHorizontalPodAutoscalerUpdate(hpa, oldHPA, validationOptions(hpa, oldHPA))
	})
}

// DeclarativeValidationConfig allows minReplicas 0 in declarative validation
// when the feature is on or the stored object already has it.
func (autoscalerStrategy) DeclarativeValidationConfig(ctx context.Context, obj, oldObj runtime.Object) rest.DeclarativeValidationConfig {
	scaleToZero := utilfeature.DefaultFeatureGate.Enabled(scaleToZeroGate)
	if oldHPA, ok := oldObj.(*autoscalingv2.HorizontalPodAutoscaler); ok && !scaleToZero {
		scaleToZero = oldHPA.Spec.MinReplicas != nil && *oldHPA.Spec.MinReplicas == 0
	}
	return rest.DeclarativeValidationConfig{Options: map[string]bool{string(scaleToZeroGate): scaleToZero}}
}

// validationOptions tolerates on update what the stored object already has
// (minReplicas 0, invalid object metric API versions, an unchanged target
// API version) and the empty group of ReplicationController targets.
func validationOptions(hpa, oldHPA *autoscaling.HorizontalPodAutoscaler) autoscalingvalidation.HorizontalPodAutoscalerSpecValidationOptions {
	opts := autoscalingvalidation.HorizontalPodAutoscalerSpecValidationOptions{
		MinReplicasLowerBound: 1,
		ScaleTargetRefValidationOptions: autoscalingvalidation.CrossVersionObjectReferenceValidationOptions{
			AllowInvalidAPIVersion: false, AllowEmptyAPIGroup: false, RequiredCoveredByDeclarative: true,
		},
		ObjectMetricsValidationOptions: autoscalingvalidation.CrossVersionObjectReferenceValidationOptions{
			AllowInvalidAPIVersion: false, AllowEmptyAPIGroup: true,
		},
	}
	oldHasZeroMinReplicas := oldHPA != nil && oldHPA.Spec.MinReplicas != nil && *oldHPA.Spec.MinReplicas == 0
	if utilfeature.DefaultFeatureGate.Enabled(scaleToZeroGate) || oldHasZeroMinReplicas {
		opts.MinReplicasLowerBound = 0
	}
	switch {
	case oldHPA != nil && oldHPA.Spec.ScaleTargetRef.APIVersion == hpa.Spec.ScaleTargetRef.APIVersion &&
		oldHPA.Spec.ScaleTargetRef.Kind == hpa.Spec.ScaleTargetRef.Kind:
		opts.ScaleTargetRefValidationOptions.AllowInvalidAPIVersion = true
	case hpa.Spec.ScaleTargetRef.Kind == "ReplicationController":
		// The only scalable kind of the core group.
		opts.ScaleTargetRefValidationOptions.AllowEmptyAPIGroup = true
	}
	if oldHPA != nil {
		for _, metric := range oldHPA.Spec.Metrics {
			if metric.Type != autoscaling.ObjectMetricSourceType || metric.Object == nil {
				continue
			}
			if err := autoscalingvalidation.ValidateAPIVersion(metric.Object.DescribedObject, opts.ObjectMetricsValidationOptions); err != nil {
				opts.ObjectMetricsValidationOptions.AllowInvalidAPIVersion = true
				break
			}
		}
	}
	return opts
}

// autoscalerStatusStrategy writes only the status.
type autoscalerStatusStrategy struct {
	autoscalerStrategy
}

var statusStrategy = autoscalerStatusStrategy{strategy}

func (autoscalerStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("autoscaling/v1", "autoscaling/v2")
}

func (autoscalerStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	hpa.Spec = old.(*autoscalingv2.HorizontalPodAutoscaler).Spec
	dropRoundTripAnnotations(hpa)
}

func (autoscalerStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, autoscalingvalidation.ValidateHorizontalPodAutoscalerStatusUpdate)
}

func (autoscalerStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
