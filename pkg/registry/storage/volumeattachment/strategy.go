// Package volumeattachment serves storage.k8s.io/v1 VolumeAttachments and
// their status subresource.
package volumeattachment

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

// mutableCSINodeAllocatableCount is upstream's feature gate for
// status.attachError.errorCode and status.detachError.errorCode.
const mutableCSINodeAllocatableCount featuregate.Feature = "MutableCSINodeAllocatableCount"

// volumeAttachmentStrategy validates VolumeAttachments with upstream's
// rules; the spec is immutable and the status is written only through
// /status.
type volumeAttachmentStrategy struct {
	generic.Strategy
}

var strategy = volumeAttachmentStrategy{generic.NewStrategy(false)}

func (volumeAttachmentStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (volumeAttachmentStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("storage.k8s.io/v1")
}

func (volumeAttachmentStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*storagev1.VolumeAttachment).Status = storagev1.VolumeAttachmentStatus{}
}

func (volumeAttachmentStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*storagev1.VolumeAttachment).Status = old.(*storagev1.VolumeAttachment).Status
}

func (volumeAttachmentStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, storagevalidation.ValidateVolumeAttachment)
}

func (volumeAttachmentStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, storagevalidation.ValidateVolumeAttachmentUpdate)
}

// volumeAttachmentStatusStrategy is the strategy of volumeattachments/status:
// only the status changes; spec, labels, annotations, finalizers and owners
// stay.
type volumeAttachmentStatusStrategy struct {
	volumeAttachmentStrategy
}

var statusStrategy = volumeAttachmentStatusStrategy{strategy}

func (volumeAttachmentStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"storage.k8s.io/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("metadata"), fieldpath.MakePathOrDie("spec")),
	}
}

// PrepareForUpdate keeps the stored spec and metadata, and drops new error
// codes while their feature is off.
func (volumeAttachmentStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	va, oldVA := obj.(*storagev1.VolumeAttachment), old.(*storagev1.VolumeAttachment)
	va.Spec = oldVA.Spec
	metav1.ResetObjectMetaForStatus(&va.ObjectMeta, &oldVA.ObjectMeta)
	if utilfeature.DefaultFeatureGate.Enabled(mutableCSINodeAllocatableCount) {
		return
	}
	if e := va.Status.AttachError; e != nil && (oldVA.Status.AttachError == nil || oldVA.Status.AttachError.ErrorCode == nil) {
		e.ErrorCode = nil
	}
	if e := va.Status.DetachError; e != nil && (oldVA.Status.DetachError == nil || oldVA.Status.DetachError.ErrorCode == nil) {
		e.ErrorCode = nil
	}
}
