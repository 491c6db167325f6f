// Package resourceclaim serves resource.k8s.io/v1 ResourceClaims with their
// status subresource.
//
// The status (allocation, reservations, device status) is written by the
// scheduler and drivers through /status; beyond upstream's validation that
// needs permissions on the synthetic resourceclaims/binding and
// resourceclaims/driver subresources, and admin access to devices needs a
// namespace labelled for it.
package resourceclaim

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubernetes/pkg/apis/resource"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// claimStrategy governs the main resource: the status is kept.
type claimStrategy struct {
	generic.Strategy
	namespaces corev1client.NamespaceInterface
	authorizer authorizer.UnconditionalAuthorizer
}

func newStrategy(namespaces corev1client.NamespaceInterface, authz authorizer.UnconditionalAuthorizer) claimStrategy {
	return claimStrategy{Strategy: generic.NewStrategy(true), namespaces: namespaces, authorizer: authz}
}

func (claimStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("resource.k8s.io/v1")
}

func (claimStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	claim := obj.(*resourcev1.ResourceClaim)
	claim.Status = resourcev1.ResourceClaimStatus{}
	dra.DropDisabledClaimSpecFields(&claim.Spec, nil)
}

func (claimStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	claim, oldClaim := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
	claim.Status = oldClaim.Status
	dra.DropDisabledClaimSpecFields(&claim.Spec, &oldClaim.Spec)
}

func (s claimStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	claim := obj.(*resourcev1.ResourceClaim)
	errs := dra.AuthorizedForAdmin(ctx, claim.Spec.Devices.Requests, claim.Namespace, s.namespaces)
	return append(errs, generic.Validate(obj, resourcevalidation.ValidateResourceClaim)...)
}

func (claimStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, resourcevalidation.ValidateResourceClaimUpdate)
}

// DeclarativeValidationConfig is upstream's: errors are compared across the
// structural differences between API versions.
func (claimStrategy) DeclarativeValidationConfig(ctx context.Context, obj, old runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{NormalizationRules: resourcevalidation.ResourceNormalizationRules}
}

// claimStatusStrategy governs /status.
type claimStatusStrategy struct {
	claimStrategy
}

func (claimStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"resource.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("metadata"),
			fieldpath.MakePathOrDie("spec"),
		),
	}
}

func (claimStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	claim, oldClaim := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
	claim.Spec = oldClaim.Spec
	metav1.ResetObjectMetaForStatus(&claim.ObjectMeta, &oldClaim.ObjectMeta)
	dropDisabledStatusFields(claim, oldClaim)
	// Last: does nothing when the device status was dropped above.
	dropDeallocatedDeviceStatus(claim, oldClaim)
}

func (s claimStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	claim, oldClaim := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
	var results, oldResults []resourcev1.DeviceRequestAllocationResult
	if claim.Status.Allocation != nil {
		results = claim.Status.Allocation.Devices.Results
	}
	if oldClaim.Status.Allocation != nil {
		oldResults = oldClaim.Status.Allocation.Devices.Results
	}
	errs := dra.AuthorizedForAdminStatus(ctx, results, oldResults, claim.Namespace, s.namespaces)
	if utilfeature.DefaultFeatureGate.Enabled(dra.ResourceClaimGranularStatusAuthorization) {
		errs = append(errs, dra.AuthorizedForBinding(ctx, field.NewPath("status", "allocation"), s.authorizer, claim.Status, oldClaim.Status)...)
		if utilfeature.DefaultFeatureGate.Enabled(dra.ResourceClaimDeviceStatus) && claim.Status.Allocation != nil {
			errs = append(errs, dra.AuthorizedForDeviceStatus(ctx, field.NewPath("status", "devices"), s.authorizer, claim.Status, oldClaim.Status)...)
		}
	}
	return append(errs, generic.ValidateUpdate(obj, old, func(claim, oldClaim *resource.ResourceClaim) field.ErrorList {
		return resourcevalidation.ValidateResourceClaimStatusUpdate(claim, oldClaim)
	})...)
}
