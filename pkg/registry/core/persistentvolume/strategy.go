// Package persistentvolume serves core/v1 PersistentVolumes with their
// status subresource.
package persistentvolume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/klog/v2"
	pvutil "k8s.io/kubernetes/pkg/api/persistentvolume"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// persistentVolumeStrategy starts PersistentVolumes Pending and keeps their
// status out of the main resource.
type persistentVolumeStrategy struct {
	generic.Strategy
	// now stamps phase transitions; tests replace it.
	now func() metav1.Time
}

var strategy = persistentVolumeStrategy{Strategy: generic.NewStrategy(false), now: metav1.Now}

func (persistentVolumeStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

func (s persistentVolumeStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pv := obj.(*corev1.PersistentVolume)
	pv.Status = corev1.PersistentVolumeStatus{}
	dropDisabledSpecFields(pv, nil)
	now := s.now()
	pv.Status.Phase = corev1.VolumePending
	pv.Status.LastPhaseTransitionTime = &now
}

func (persistentVolumeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	pv.Status = oldPV.Status
	dropDisabledSpecFields(pv, oldPV)
}

// dropDisabledSpecFields runs upstream's rule on the internal form.
func dropDisabledSpecFields(pv, oldPV *corev1.PersistentVolume) {
	var old runtime.Object
	if oldPV != nil {
		old = oldPV
	}
	err := generic.ApplyInternal(pv, old, func(pv, oldPV *core.PersistentVolume) {
		var oldSpec *core.PersistentVolumeSpec
		if oldPV != nil {
			oldSpec = &oldPV.Spec
		}
		pvutil.DropDisabledSpecFields(&pv.Spec, oldSpec)
	})
	if err != nil {
		klog.ErrorS(err, "Cannot drop disabled fields of a PersistentVolume", "persistentVolume", pv.Name)
	}
}

func (persistentVolumeStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(pv *core.PersistentVolume) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolume(pv, nil)
		return append(corevalidation.ValidatePersistentVolume(pv, opts), validateMountOptions(pv)...)
	})
}

func (persistentVolumeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pv, oldPV *core.PersistentVolume) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolume(pv, oldPV)
		errs := append(corevalidation.ValidatePersistentVolume(pv, opts), validateMountOptions(pv)...)
		return append(errs, corevalidation.ValidatePersistentVolumeUpdate(pv, oldPV, opts)...)
	})
}

// validateMountOptions is upstream's volume check (pkg/volume/validation):
// the mount-options annotation is allowed only on volume types that support
// mount options.
func validateMountOptions(pv *core.PersistentVolume) field.ErrorList {
	s := pv.Spec
	if s.GCEPersistentDisk != nil || s.AWSElasticBlockStore != nil || s.Glusterfs != nil || s.NFS != nil || s.RBD != nil ||
		s.Quobyte != nil || s.ISCSI != nil || s.Cinder != nil || s.CephFS != nil || s.AzureFile != nil ||
		s.VsphereVolume != nil || s.AzureDisk != nil || s.PhotonPersistentDisk != nil {
		return nil
	}
	if _, ok := pv.Annotations[core.MountOptionAnnotation]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath("metadata").Child("annotations", core.MountOptionAnnotation), "may not specify mount options for this volume type")}
	}
	return nil
}

func (persistentVolumeStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj)
}

func (persistentVolumeStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj)
}

func warnings(obj runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		return nil
	}
	return pvutil.GetWarningsForPersistentVolume(in.(*core.PersistentVolume))
}

type persistentVolumeStatusStrategy struct {
	persistentVolumeStrategy
}

var statusStrategy = persistentVolumeStatusStrategy{strategy}

func (persistentVolumeStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

// PrepareForUpdate keeps the spec and stamps lastPhaseTransitionTime when
// the phase changes (unless the writer set a new one).
func (s persistentVolumeStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	pv.Spec = oldPV.Spec
	switch {
	case oldPV.Status.Phase == pv.Status.Phase && pv.Status.LastPhaseTransitionTime == nil:
		pv.Status.LastPhaseTransitionTime = oldPV.Status.LastPhaseTransitionTime
	case oldPV.Status.Phase != pv.Status.Phase &&
		(pv.Status.LastPhaseTransitionTime == nil || pv.Status.LastPhaseTransitionTime.Equal(oldPV.Status.LastPhaseTransitionTime)):
		now := s.now()
		pv.Status.LastPhaseTransitionTime = &now
	}
}

func (persistentVolumeStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidatePersistentVolumeStatusUpdate)
}

func (persistentVolumeStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs adds the legacy "name" field to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return nil, nil, fmt.Errorf("not a persistentvolume: %T", obj)
	}
	return pv.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&pv.ObjectMeta, false), fields.Set{
		"name": pv.Name,
	}), nil
}
