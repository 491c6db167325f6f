// Package prioritylevelconfiguration serves flowcontrol.apiserver.k8s.io/v1
// PriorityLevelConfigurations with their status subresource.
package prioritylevelconfiguration

import (
	"context"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/flowcontrol"
	fcvalidation "k8s.io/kubernetes/pkg/apis/flowcontrol/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// priorityLevelStrategy validates with upstream's rules, keeps the status
// (written by the API Priority and Fairness controller through /status) and
// counts spec changes in metadata.generation.
type priorityLevelStrategy struct {
	generic.Strategy
}

var strategy = priorityLevelStrategy{generic.NewStrategy(false)}

func (priorityLevelStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("flowcontrol.apiserver.k8s.io/v1")
}

func (priorityLevelStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
	pl.Status = flowcontrolv1.PriorityLevelConfigurationStatus{}
	pl.Generation = 1
}

func (priorityLevelStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pl, oldPL := obj.(*flowcontrolv1.PriorityLevelConfiguration), old.(*flowcontrolv1.PriorityLevelConfiguration)
	if !apiequality.Semantic.DeepEqual(pl.Spec, oldPL.Spec) {
		pl.Generation = oldPL.Generation + 1
	}
	pl.Status = oldPL.Status
}

// Validate runs upstream's validation, which depends on the API version the
// request came in (some fields exist only in some versions).
func (priorityLevelStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	gv := requestGroupVersion(ctx)
	return generic.Validate(obj, func(pl *flowcontrol.PriorityLevelConfiguration) field.ErrorList {
		return fcvalidation.ValidatePriorityLevelConfiguration(pl, gv, fcvalidation.PriorityLevelValidationOptions{})
	})
}

// ValidateUpdate validates the new object as on create, as upstream does.
func (s priorityLevelStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

func requestGroupVersion(ctx context.Context) schema.GroupVersion {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		return schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}
	}
	return schema.GroupVersion{}
}

// priorityLevelStatusStrategy governs /status: only the status changes (and
// managedFields, for server-side apply).
type priorityLevelStatusStrategy struct {
	priorityLevelStrategy
}

var statusStrategy = priorityLevelStatusStrategy{strategy}

func (priorityLevelStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"flowcontrol.apiserver.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata"),
		),
	}
}

func (priorityLevelStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pl, oldPL := obj.(*flowcontrolv1.PriorityLevelConfiguration), old.(*flowcontrolv1.PriorityLevelConfiguration)
	managedFields := pl.ManagedFields
	pl.ObjectMeta = oldPL.ObjectMeta
	pl.ManagedFields = managedFields
	pl.Spec = oldPL.Spec
}

func (priorityLevelStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pl, oldPL *flowcontrol.PriorityLevelConfiguration) field.ErrorList {
		return fcvalidation.ValidatePriorityLevelConfigurationStatusUpdate(oldPL, pl)
	})
}
