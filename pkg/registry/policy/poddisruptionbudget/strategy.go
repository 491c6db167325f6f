// Package poddisruptionbudget serves policy/v1 PodDisruptionBudgets with
// their status subresource.
package poddisruptionbudget

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/policy"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// podDisruptionBudgetStrategy keeps the status out of user writes, bumps
// metadata.generation on spec changes and keeps policy/v1beta1's selector
// marker label out of user selectors.
type podDisruptionBudgetStrategy struct {
	generic.Strategy
}

var strategy = podDisruptionBudgetStrategy{generic.NewStrategy(true)}

func (podDisruptionBudgetStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("policy/v1")
}

// AllowUnconditionalUpdate is false: the disruption controller and the
// eviction subresource rely on resourceVersion checks of the budget.
func (podDisruptionBudgetStrategy) AllowUnconditionalUpdate(ctx context.Context) bool {
	return false
}

func (podDisruptionBudgetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pdb := obj.(*policyv1.PodDisruptionBudget)
	pdb.Status = policyv1.PodDisruptionBudgetStatus{}
	pdb.Generation = 1
	stripV1beta1SelectorLabel(pdb, nil)
}

func (podDisruptionBudgetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pdb, oldPDB := obj.(*policyv1.PodDisruptionBudget), old.(*policyv1.PodDisruptionBudget)
	pdb.Status = oldPDB.Status
	if !apiequality.Semantic.DeepEqual(oldPDB.Spec, pdb.Spec) {
		pdb.Generation = oldPDB.Generation + 1
	}
	stripV1beta1SelectorLabel(pdb, oldPDB)
}

// stripV1beta1SelectorLabel removes the label key policy/v1beta1 uses to
// express "match none" and "match all" from a new or changed selector,
// unless the selector is exactly one of those two markers.
func stripV1beta1SelectorLabel(pdb, oldPDB *policyv1.PodDisruptionBudget) {
	if oldPDB != nil && apiequality.Semantic.DeepEqual(oldPDB.Spec.Selector, pdb.Spec.Selector) {
		return
	}
	if apiequality.Semantic.DeepEqual(pdb.Spec.Selector, policy.NonV1beta1MatchNoneSelector) ||
		apiequality.Semantic.DeepEqual(pdb.Spec.Selector, policy.NonV1beta1MatchAllSelector) {
		return
	}
	policy.StripPDBV1beta1Label(pdb.Spec.Selector)
}

func (podDisruptionBudgetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(pdb *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudget(pdb, policyvalidation.PodDisruptionBudgetValidationOptions{})
	})
}

// ValidateUpdate tolerates invalid label values in the selector when the
// stored selector already has them.
func (podDisruptionBudgetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pdb, oldPDB *policy.PodDisruptionBudget) field.ErrorList {
		opts := policyvalidation.PodDisruptionBudgetValidationOptions{
			AllowInvalidLabelValueInSelector: hasInvalidLabelValue(oldPDB),
		}
		return policyvalidation.ValidatePodDisruptionBudget(pdb, opts)
	})
}

func hasInvalidLabelValue(pdb *policy.PodDisruptionBudget) bool {
	if pdb.Spec.Selector == nil {
		return false
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	return len(metav1validation.ValidateLabelSelector(pdb.Spec.Selector, opts, nil)) > 0
}

// podDisruptionBudgetStatusStrategy writes only the status.
type podDisruptionBudgetStatusStrategy struct {
	podDisruptionBudgetStrategy
}

var statusStrategy = podDisruptionBudgetStatusStrategy{strategy}

func (podDisruptionBudgetStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("policy/v1")
}

func (podDisruptionBudgetStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*policyv1.PodDisruptionBudget).Spec = old.(*policyv1.PodDisruptionBudget).Spec
}

// ValidateUpdate validates the status by the rules of the requested API
// version.
func (podDisruptionBudgetStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	var gv schema.GroupVersion
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		gv = schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return generic.ValidateUpdate(obj, old, func(pdb, oldPDB *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudgetStatusUpdate(pdb.Status, oldPDB.Status, field.NewPath("status"), gv)
	})
}

func (podDisruptionBudgetStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
