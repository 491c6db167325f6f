// Package networkpolicy serves networking.k8s.io/v1 NetworkPolicies.
package networkpolicy

import (
	"context"
	"reflect"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/networking"
	networkingvalidation "k8s.io/kubernetes/pkg/apis/networking/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// networkPolicyStrategy validates NetworkPolicies with upstream's rules and
// bumps metadata.generation when the spec changes.
type networkPolicyStrategy struct {
	generic.Strategy
}

var strategy = networkPolicyStrategy{generic.NewStrategy(true)}

func (networkPolicyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*networkingv1.NetworkPolicy).Generation = 1
}

func (networkPolicyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	np, oldNP := obj.(*networkingv1.NetworkPolicy), old.(*networkingv1.NetworkPolicy)
	// Upstream compares with reflect (not Semantic) here: a nil and an
	// empty list differ.
	if !reflect.DeepEqual(np.Spec, oldNP.Spec) {
		np.Generation = oldNP.Generation + 1
	}
}

func (networkPolicyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(np *networking.NetworkPolicy) field.ErrorList {
		return networkingvalidation.ValidateNetworkPolicy(np, networkingvalidation.ValidationOptionsForNetworking(np, nil))
	})
}

func (networkPolicyStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(np, oldNP *networking.NetworkPolicy) field.ErrorList {
		return networkingvalidation.ValidateNetworkPolicyUpdate(np, oldNP, networkingvalidation.ValidationOptionsForNetworking(np, oldNP))
	})
}

func (networkPolicyStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return cidrWarnings(obj.(*networkingv1.NetworkPolicy))
}

func (networkPolicyStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return cidrWarnings(obj.(*networkingv1.NetworkPolicy))
}

// cidrWarnings warns about ipBlock CIDRs that parse but are ambiguous
// (leading zeros, host bits set), as upstream does.
func cidrWarnings(np *networkingv1.NetworkPolicy) []string {
	var warnings []string
	ipBlock := func(path *field.Path, block *networkingv1.IPBlock) {
		if block == nil {
			return
		}
		warnings = append(warnings, utilvalidation.GetWarningsForCIDR(path.Child("cidr"), block.CIDR)...)
		for k, except := range block.Except {
			warnings = append(warnings, utilvalidation.GetWarningsForCIDR(path.Child("except").Index(k), except)...)
		}
	}
	for i, rule := range np.Spec.Ingress {
		for j, peer := range rule.From {
			ipBlock(field.NewPath("spec", "ingress").Index(i).Child("from").Index(j).Child("ipBlock"), peer.IPBlock)
		}
	}
	for i, rule := range np.Spec.Egress {
		for j, peer := range rule.To {
			ipBlock(field.NewPath("spec", "egress").Index(i).Child("to").Index(j).Child("ipBlock"), peer.IPBlock)
		}
	}
	return warnings
}
