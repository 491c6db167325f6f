// Package csinode serves storage.k8s.io/v1 CSINodes and their status
// subresource.
package csinode

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// csiVolumeHealth is upstream's feature gate for status.storageHealth.
const csiVolumeHealth featuregate.Feature = "CSIVolumeHealth"

// csiNodeStrategy validates CSINodes with upstream's rules; the status is
// written only through /status.
type csiNodeStrategy struct {
	generic.Strategy
}

var strategy = csiNodeStrategy{generic.NewStrategy(false)}

func (csiNodeStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (csiNodeStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("storage.k8s.io/v1")
}

func (csiNodeStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	n := obj.(*storagev1.CSINode)
	n.Status = storagev1.CSINodeStatus{}
	dropDisabledFields(n, nil)
}

func (csiNodeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	n, oldN := obj.(*storagev1.CSINode), old.(*storagev1.CSINode)
	n.Status = oldN.Status
	dropDisabledFields(n, oldN)
}

func (csiNodeStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, storagevalidation.ValidateCSINode)
}

func (csiNodeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, storagevalidation.ValidateCSINodeUpdate)
}

// csiNodeStatusStrategy is the strategy of csinodes/status: only the status
// changes; spec, labels, annotations, finalizers and owners stay.
type csiNodeStatusStrategy struct {
	csiNodeStrategy
}

var statusStrategy = csiNodeStatusStrategy{strategy}

func (csiNodeStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"storage.k8s.io/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("metadata"), fieldpath.MakePathOrDie("spec")),
	}
}

func (csiNodeStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	n, oldN := obj.(*storagev1.CSINode), old.(*storagev1.CSINode)
	n.Spec = oldN.Spec
	metav1.ResetObjectMetaForStatus(&n.ObjectMeta, &oldN.ObjectMeta)
	dropDisabledFields(n, oldN)
}

func (csiNodeStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, storagevalidation.ValidateCSINodeStatusUpdate)
}

// dropDisabledFields drops status.storageHealth while CSIVolumeHealth is
// off, unless the stored object already has it.
func dropDisabledFields(n, old *storagev1.CSINode) {
	if utilfeature.DefaultFeatureGate.Enabled(csiVolumeHealth) {
		return
	}
	if old == nil || len(old.Status.StorageHealth) == 0 {
		n.Status.StorageHealth = nil
	}
}
