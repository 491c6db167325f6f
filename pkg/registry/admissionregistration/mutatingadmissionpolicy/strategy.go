// Package mutatingadmissionpolicy serves admissionregistration.k8s.io/v1
// MutatingAdmissionPolicies.
package mutatingadmissionpolicy

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	arvalidation "k8s.io/kubernetes/pkg/apis/admissionregistration/validation"

	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// policyStrategy validates policies with upstream's rules (which compile
// their CEL expressions), counts spec changes in metadata.generation and
// makes the writer of a paramKind prove it may read the parameters.
type policyStrategy struct {
	generic.Strategy
	authorizer authorizer.UnconditionalAuthorizer
	resolver   policyauthz.ResourceResolver
}

func newStrategy(authz authorizer.UnconditionalAuthorizer, resolver policyauthz.ResourceResolver) policyStrategy {
	return policyStrategy{Strategy: generic.NewStrategy(false), authorizer: authz, resolver: resolver}
}

func (policyStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (policyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*admissionregistrationv1.MutatingAdmissionPolicy).Generation = 1
}

func (policyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*admissionregistrationv1.MutatingAdmissionPolicy), old.(*admissionregistrationv1.MutatingAdmissionPolicy)
	if !apiequality.Semantic.DeepEqual(oldP.Spec, p.Spec) {
		p.Generation = oldP.Generation + 1
	}
}

func (s policyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	p := obj.(*admissionregistrationv1.MutatingAdmissionPolicy)
	errs := generic.Validate(obj, arvalidation.ValidateMutatingAdmissionPolicy)
	if utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		errs = append(errs, arvalidation.ValidateStaticSuffix(p.Name, field.NewPath("metadata", "name"))...)
	}
	if len(errs) == 0 {
		if err := policyauthz.AuthorizeParamKind(ctx, s.authorizer, s.resolver, p.Spec.ParamKind); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "paramKind"), err.Error()))
		}
	}
	return errs
}

// ValidateUpdate checks the writer's access to the parameters only when the
// paramKind changed.
func (s policyStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := generic.ValidateUpdate(obj, old, arvalidation.ValidateMutatingAdmissionPolicyUpdate)
	if len(errs) != 0 {
		return errs
	}
	p, oldP := obj.(*admissionregistrationv1.MutatingAdmissionPolicy), old.(*admissionregistrationv1.MutatingAdmissionPolicy)
	if p.Spec.ParamKind == nil || (oldP.Spec.ParamKind != nil && *oldP.Spec.ParamKind == *p.Spec.ParamKind) {
		return nil
	}
	if err := policyauthz.AuthorizeParamKind(ctx, s.authorizer, s.resolver, p.Spec.ParamKind); err != nil {
		return field.ErrorList{field.Forbidden(field.NewPath("spec", "paramKind"), err.Error())}
	}
	return nil
}

func (policyStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	if utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		return nil
	}
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingAdmissionPolicy).Name)
}

func (policyStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingAdmissionPolicy).Name)
}
