// Package flowschema serves flowcontrol.apiserver.k8s.io/v1 FlowSchemas with
// their status subresource.
package flowschema

import (
	"context"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/flowcontrol"
	fcvalidation "k8s.io/kubernetes/pkg/apis/flowcontrol/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// flowSchemaStrategy validates with upstream's rules, keeps the status
// (written by the API Priority and Fairness controller through /status) and
// counts spec changes in metadata.generation.
type flowSchemaStrategy struct {
	generic.Strategy
}

var strategy = flowSchemaStrategy{generic.NewStrategy(false)}

func (flowSchemaStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("flowcontrol.apiserver.k8s.io/v1")
}

func (flowSchemaStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	fs := obj.(*flowcontrolv1.FlowSchema)
	fs.Status = flowcontrolv1.FlowSchemaStatus{}
	fs.Generation = 1
}

func (flowSchemaStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	fs, oldFS := obj.(*flowcontrolv1.FlowSchema), old.(*flowcontrolv1.FlowSchema)
	if !apiequality.Semantic.DeepEqual(fs.Spec, oldFS.Spec) {
		fs.Generation = oldFS.Generation + 1
	}
	fs.Status = oldFS.Status
}

func (flowSchemaStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, fcvalidation.ValidateFlowSchema)
}

func (flowSchemaStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(fs, oldFS *flowcontrol.FlowSchema) field.ErrorList {
		return fcvalidation.ValidateFlowSchemaUpdate(oldFS, fs)
	})
}

// flowSchemaStatusStrategy governs /status: only the status changes (and
// managedFields, for server-side apply).
type flowSchemaStatusStrategy struct {
	flowSchemaStrategy
}

var statusStrategy = flowSchemaStatusStrategy{strategy}

func (flowSchemaStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"flowcontrol.apiserver.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("metadata"),
			fieldpath.MakePathOrDie("spec"),
		),
	}
}

func (flowSchemaStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	fs, oldFS := obj.(*flowcontrolv1.FlowSchema), old.(*flowcontrolv1.FlowSchema)
	managedFields := fs.ManagedFields
	fs.ObjectMeta = oldFS.ObjectMeta
	fs.ManagedFields = managedFields
	fs.Spec = oldFS.Spec
}

func (flowSchemaStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(fs, oldFS *flowcontrol.FlowSchema) field.ErrorList {
		return fcvalidation.ValidateFlowSchemaStatusUpdate(oldFS, fs)
	})
}
