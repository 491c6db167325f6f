// Package persistentvolumeclaim serves core/v1 PersistentVolumeClaims with
// their status subresource.
package persistentvolumeclaim

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/klog/v2"
	pvcutil "k8s.io/kubernetes/pkg/api/persistentvolumeclaim"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// pvcStrategy keeps claims' status out of the main resource and keeps
// dataSource and dataSourceRef consistent, as upstream.
type pvcStrategy struct {
	generic.Strategy
}

var strategy = pvcStrategy{generic.NewStrategy(true)}

func (pvcStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

func (pvcStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	pvc.Status = corev1.PersistentVolumeClaimStatus{}
	applyUpstream(pvc, nil, func(pvc, _ *core.PersistentVolumeClaim) {
		pvcutil.DropDisabledFields(&pvc.Spec, nil)
		pvcutil.EnforceDataSourceBackwardsCompatibility(&pvc.Spec, nil)
		pvcutil.NormalizeDataSources(&pvc.Spec)
	})
}

func (pvcStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	pvc.Status = oldPVC.Status
	applyUpstream(pvc, oldPVC, func(pvc, oldPVC *core.PersistentVolumeClaim) {
		pvcutil.DropDisabledFields(&pvc.Spec, &oldPVC.Spec)
		pvcutil.EnforceDataSourceBackwardsCompatibility(&pvc.Spec, &oldPVC.Spec)
		pvcutil.NormalizeDataSources(&pvc.Spec)
	})
	// Upstream normalizes the stored claim too, so that claims written
	// before dataSourceRef existed validate against the normalized form.
	normalizeDataSources(&oldPVC.Spec)
}

// applyUpstream runs upstream's mutating rules on the internal forms.
func applyUpstream(pvc, oldPVC *corev1.PersistentVolumeClaim, fn func(pvc, oldPVC *core.PersistentVolumeClaim)) {
	var old runtime.Object
	if oldPVC != nil {
		old = oldPVC
	}
	if err := generic.ApplyInternal(pvc, old, fn); err != nil {
		klog.ErrorS(err, "Cannot apply upstream's rules to a PersistentVolumeClaim", "persistentVolumeClaim", klog.KObj(pvc))
	}
}

// normalizeDataSources is upstream's NormalizeDataSources on the v1 type
// (it runs on every read, where a conversion would cost too much): a claim
// that sets only one of dataSource and dataSourceRef gets the other.
func normalizeDataSources(spec *corev1.PersistentVolumeClaimSpec) {
	switch {
	case spec.DataSource != nil && spec.DataSourceRef == nil:
		spec.DataSourceRef = &corev1.TypedObjectReference{Kind: spec.DataSource.Kind, Name: spec.DataSource.Name}
		if spec.DataSource.APIGroup != nil {
			group := *spec.DataSource.APIGroup
			spec.DataSourceRef.APIGroup = &group
		}
	case spec.DataSourceRef != nil && spec.DataSource == nil:
		if spec.DataSourceRef.Namespace != nil && *spec.DataSourceRef.Namespace != "" {
			return // a cross-namespace source has no dataSource form
		}
		spec.DataSource = &corev1.TypedLocalObjectReference{Kind: spec.DataSourceRef.Kind, Name: spec.DataSourceRef.Name}
		if spec.DataSourceRef.APIGroup != nil {
			group := *spec.DataSourceRef.APIGroup
			spec.DataSource.APIGroup = &group
		}
	}
}

func (pvcStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(pvc *core.PersistentVolumeClaim) field.ErrorList {
		return corevalidation.ValidatePersistentVolumeClaim(pvc, corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, nil))
	})
}

func (pvcStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pvc, oldPVC *core.PersistentVolumeClaim) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, oldPVC)
		return corevalidation.ValidatePersistentVolumeClaimUpdate(pvc, oldPVC, opts)
	})
}

func (pvcStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj)
}

func (pvcStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj)
}

func warnings(obj runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		return nil
	}
	return pvcutil.GetWarningsForPersistentVolumeClaim(in.(*core.PersistentVolumeClaim))
}

type pvcStatusStrategy struct {
	pvcStrategy
}

var statusStrategy = pvcStatusStrategy{strategy}

func (pvcStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

func (pvcStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	pvc.Spec = oldPVC.Spec
	applyUpstream(pvc, oldPVC, pvcutil.DropDisabledFieldsFromStatus)
}

func (pvcStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pvc, oldPVC *core.PersistentVolumeClaim) field.ErrorList {
		opts := corevalidation.ValidationOptionsForPersistentVolumeClaim(pvc, oldPVC)
		return corevalidation.ValidatePersistentVolumeClaimStatusUpdate(pvc, oldPVC, opts)
	})
}

func (pvcStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs adds the legacy "name" field to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, nil, fmt.Errorf("not a persistentvolumeclaim: %T", obj)
	}
	return pvc.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&pvc.ObjectMeta, true), fields.Set{
		"name": pvc.Name,
	}), nil
}
