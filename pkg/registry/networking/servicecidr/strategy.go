// Package servicecidr serves networking.k8s.io/v1 ServiceCIDRs, the ranges
// Service ClusterIPs are allocated from, and keeps the default one
// ("kubernetes", from --service-cluster-ip-range) in place.
package servicecidr

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/networking"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const groupVersion = "networking.k8s.io/v1"

// serviceCIDRStrategy keeps the status (written through /status only, as
// upstream does since ServiceCIDRStatusFieldWiping) and validates with
// upstream's rules.
type serviceCIDRStrategy struct {
	generic.Strategy
}

var strategy = serviceCIDRStrategy{generic.NewStrategy(false)}

func (serviceCIDRStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields(groupVersion)
}

func (serviceCIDRStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*networkingv1.ServiceCIDR).Status = networkingv1.ServiceCIDRStatus{}
}

func (serviceCIDRStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*networkingv1.ServiceCIDR).Status = old.(*networkingv1.ServiceCIDR).Status
}

func (serviceCIDRStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, networkingvalidation.ValidateServiceCIDR)
}

func (serviceCIDRStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, networkingvalidation.ValidateServiceCIDRUpdate)
}

type serviceCIDRStatusStrategy struct {
	serviceCIDRStrategy
}

var statusStrategy = serviceCIDRStatusStrategy{strategy}

// GetResetFields: a status write changes neither spec nor metadata.
func (serviceCIDRStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		groupVersion: fieldpath.NewSet(fieldpath.MakePathOrDie("metadata"), fieldpath.MakePathOrDie("spec")),
	}
}

func (serviceCIDRStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	sc, oldSC := obj.(*networkingv1.ServiceCIDR), old.(*networkingv1.ServiceCIDR)
	sc.Spec = oldSC.Spec
	metav1.ResetObjectMetaForStatus(&sc.ObjectMeta, &oldSC.ObjectMeta)
}

func (serviceCIDRStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(sc, oldSC *networking.ServiceCIDR) field.ErrorList {
		return networkingvalidation.ValidateServiceCIDRStatusUpdate(sc, oldSC)
	})
}
