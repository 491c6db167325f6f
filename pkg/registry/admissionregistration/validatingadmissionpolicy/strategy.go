// Package validatingadmissionpolicy serves admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicies with their status subresource.
package validatingadmissionpolicy

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	arvalidation "k8s.io/kubernetes/pkg/apis/admissionregistration/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// policyStrategy validates policies with upstream's rules (which type-check
// their CEL expressions), counts spec changes in metadata.generation, keeps
// the status (written by the type checker through /status) and makes the
// writer of a paramKind prove it may read the parameters.
type policyStrategy struct {
	generic.Strategy
	authorizer authorizer.UnconditionalAuthorizer
	resolver   policyauthz.ResourceResolver
}

func newStrategy(authz authorizer.UnconditionalAuthorizer, resolver policyauthz.ResourceResolver) policyStrategy {
	return policyStrategy{Strategy: generic.NewStrategy(false), authorizer: authz, resolver: resolver}
}

func (policyStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("admissionregistration.k8s.io/v1")
}

func (policyStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (policyStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Status = admissionregistrationv1.ValidatingAdmissionPolicyStatus{}
	p.Generation = 1
}

func (policyStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Status = oldP.Status
	if !apiequality.Semantic.DeepEqual(oldP.Spec, p.Spec) {
		p.Generation = oldP.Generation + 1
	}
}

func (s policyStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	errs := generic.Validate(obj, arvalidation.ValidateValidatingAdmissionPolicy)
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
	errs := generic.ValidateUpdate(obj, old, arvalidation.ValidateValidatingAdmissionPolicyUpdate)
	if len(errs) != 0 {
		return errs
	}
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
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
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.ValidatingAdmissionPolicy).Name)
}

func (policyStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.ValidatingAdmissionPolicy).Name)
}

// policyStatusStrategy governs /status: only the status changes.
type policyStatusStrategy struct {
	policyStrategy
}

func (policyStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"admissionregistration.k8s.io/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata"),
		),
	}
}

func (policyStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	p, oldP := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), old.(*admissionregistrationv1.ValidatingAdmissionPolicy)
	p.Spec = oldP.Spec
	metav1.ResetObjectMetaForStatus(&p.ObjectMeta, &oldP.ObjectMeta)
}

func (policyStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, arvalidation.ValidateValidatingAdmissionPolicyStatusUpdate)
}

func (policyStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
