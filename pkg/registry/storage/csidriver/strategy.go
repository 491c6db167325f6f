// Package csidriver serves storage.k8s.io/v1 CSIDrivers.
package csidriver

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Upstream's feature gates (k8s.io/kubernetes/pkg/features) that guard
// CSIDriver fields.
const (
	seLinuxMountReadWriteOncePod   featuregate.Feature = "SELinuxMountReadWriteOncePod"
	mutableCSINodeAllocatableCount featuregate.Feature = "MutableCSINodeAllocatableCount"
	csiServiceAccountTokenSecrets  featuregate.Feature = "CSIServiceAccountTokenSecrets"
	volumeLimitScaling             featuregate.Feature = "VolumeLimitScaling"
)

const warningServiceAccountTokenInSecretsRecommended = "spec.serviceAccountTokenInSecrets is unset; if supported by this CSI driver, set to true to prevent possible logging of tokens in volume attributes"

// csiDriverStrategy validates CSIDrivers with upstream's rules, drops fields
// of disabled features and bumps metadata.generation on spec changes.
type csiDriverStrategy struct {
	generic.Strategy
}

var strategy = csiDriverStrategy{generic.NewStrategy(false)}

func (csiDriverStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (csiDriverStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	spec := &obj.(*storagev1.CSIDriver).Spec
	if !enabled(seLinuxMountReadWriteOncePod) {
		spec.SELinuxMount = nil
	}
	if !enabled(mutableCSINodeAllocatableCount) {
		spec.NodeAllocatableUpdatePeriodSeconds = nil
	}
	if !enabled(csiServiceAccountTokenSecrets) {
		spec.ServiceAccountTokenInSecrets = nil
	}
	if !enabled(volumeLimitScaling) {
		spec.PreventPodSchedulingIfMissing = nil
	}
}

// PrepareForUpdate drops fields of disabled features unless the stored
// driver already uses them, and bumps the generation on spec changes.
func (csiDriverStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	driver, oldDriver := obj.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
	spec, oldSpec := &driver.Spec, &oldDriver.Spec
	if oldSpec.SELinuxMount == nil && !enabled(seLinuxMountReadWriteOncePod) {
		spec.SELinuxMount = nil
	}
	if oldSpec.ServiceAccountTokenInSecrets == nil && !enabled(csiServiceAccountTokenSecrets) {
		spec.ServiceAccountTokenInSecrets = nil
	}
	if oldSpec.NodeAllocatableUpdatePeriodSeconds == nil && !enabled(mutableCSINodeAllocatableCount) {
		spec.NodeAllocatableUpdatePeriodSeconds = nil
	}
	if oldSpec.PreventPodSchedulingIfMissing == nil && !enabled(volumeLimitScaling) {
		spec.PreventPodSchedulingIfMissing = nil
	}
	if !apiequality.Semantic.DeepEqual(oldDriver.Spec, driver.Spec) {
		driver.Generation = oldDriver.Generation + 1
	}
}

func (csiDriverStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, storagevalidation.ValidateCSIDriver)
}

func (csiDriverStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, storagevalidation.ValidateCSIDriverUpdate)
}

// WarningsOnCreate recommends serviceAccountTokenInSecrets to drivers that
// request tokens.
func (csiDriverStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	spec := obj.(*storagev1.CSIDriver).Spec
	if enabled(csiServiceAccountTokenSecrets) && len(spec.TokenRequests) > 0 && spec.ServiceAccountTokenInSecrets == nil {
		return []string{warningServiceAccountTokenInSecretsRecommended}
	}
	return nil
}

// WarningsOnUpdate gives the same recommendation when tokenRequests change.
func (csiDriverStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	spec, oldSpec := obj.(*storagev1.CSIDriver).Spec, old.(*storagev1.CSIDriver).Spec
	if enabled(csiServiceAccountTokenSecrets) && !apiequality.Semantic.DeepEqual(oldSpec.TokenRequests, spec.TokenRequests) &&
		len(spec.TokenRequests) > 0 && spec.ServiceAccountTokenInSecrets == nil {
		return []string{warningServiceAccountTokenInSecretsRecommended}
	}
	return nil
}

func enabled(f featuregate.Feature) bool { return utilfeature.DefaultFeatureGate.Enabled(f) }
