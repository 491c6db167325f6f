// Package devicetaintrule serves resource.k8s.io/v1 DeviceTaintRules with
// their status subresource.
package devicetaintrule

import (
	"context"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// taintRuleStrategy validates with upstream's rules, keeps the status
// (written by the eviction controller through /status), counts spec changes
// in metadata.generation and restamps the taint when its effect changes.
// Updates must name the resourceVersion they replace (v1 behaviour).
type taintRuleStrategy struct {
	generic.Strategy
	now func() time.Time
}

var strategy = taintRuleStrategy{Strategy: generic.NewStrategy(false), now: time.Now}

func (taintRuleStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("resource.k8s.io/v1")
}

func (taintRuleStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (taintRuleStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	rule := obj.(*resourcev1.DeviceTaintRule)
	rule.Status = resourcev1.DeviceTaintRuleStatus{}
	rule.Generation = 1
}

// PrepareForUpdate sets a new timeAdded when the effect changes and the
// client kept the old time, so the taint counts from the change.
func (s taintRuleStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rule, oldRule := obj.(*resourcev1.DeviceTaintRule), old.(*resourcev1.DeviceTaintRule)
	rule.Status = oldRule.Status
	if rule.Spec.Taint.Effect != oldRule.Spec.Taint.Effect && rule.Spec.Taint.TimeAdded.Equal(oldRule.Spec.Taint.TimeAdded) {
		rule.Spec.Taint.TimeAdded = &metav1.Time{Time: s.now().Truncate(time.Second)}
	}
	if !apiequality.Semantic.DeepEqual(oldRule.Spec, rule.Spec) {
		rule.Generation = oldRule.Generation + 1
	}
}

func (taintRuleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, resourcevalidation.ValidateDeviceTaintRule)
}

func (taintRuleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, resourcevalidation.ValidateDeviceTaintRuleUpdate)
}

// taintRuleStatusStrategy governs /status: only the status changes.
type taintRuleStatusStrategy struct {
	taintRuleStrategy
}

var statusStrategy = taintRuleStatusStrategy{strategy}

func (taintRuleStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"resource.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("metadata"),
			fieldpath.MakePathOrDie("spec"),
		),
	}
}

func (taintRuleStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rule, oldRule := obj.(*resourcev1.DeviceTaintRule), old.(*resourcev1.DeviceTaintRule)
	rule.Spec = oldRule.Spec
	metav1.ResetObjectMetaForStatus(&rule.ObjectMeta, &oldRule.ObjectMeta)
}

func (taintRuleStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, resourcevalidation.ValidateDeviceTaintRuleStatusUpdate)
}
