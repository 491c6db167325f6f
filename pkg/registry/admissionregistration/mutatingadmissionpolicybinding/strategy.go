// Package mutatingadmissionpolicybinding serves
// admissionregistration.k8s.io/v1 MutatingAdmissionPolicyBindings.
package mutatingadmissionpolicybinding

import (
	"context"
	"fmt"

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

// PolicyGetter finds the policy a binding refers to.
type PolicyGetter interface {
	GetPolicy(ctx context.Context, name string) (*admissionregistrationv1.MutatingAdmissionPolicy, error)
}

// bindingStrategy validates bindings with upstream's rules, counts spec
// changes in metadata.generation and makes the writer of a paramRef prove it
// may read the referenced parameters.
type bindingStrategy struct {
	generic.Strategy
	authorizer authorizer.UnconditionalAuthorizer
	policies   PolicyGetter
	resolver   policyauthz.ResourceResolver
}

func newStrategy(authz authorizer.UnconditionalAuthorizer, policies PolicyGetter, resolver policyauthz.ResourceResolver) bindingStrategy {
	return bindingStrategy{Strategy: generic.NewStrategy(false), authorizer: authz, policies: policies, resolver: resolver}
}

func (bindingStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (bindingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Generation = 1
}

func (bindingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	b, oldB := obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding), old.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
	if !apiequality.Semantic.DeepEqual(oldB.Spec, b.Spec) {
		b.Generation = oldB.Generation + 1
	}
}

func (s bindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	b := obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
	errs := generic.Validate(obj, arvalidation.ValidateMutatingAdmissionPolicyBinding)
	if utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		errs = append(errs, arvalidation.ValidateStaticSuffix(b.Name, field.NewPath("metadata", "name"))...)
	}
	if len(errs) == 0 && b.Spec.ParamRef != nil {
		if err := s.authorize(ctx, b); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "paramRef"), err.Error()))
		}
	}
	return errs
}

// ValidateUpdate checks the writer's access to the parameters only when the
// paramRef or the policy changed.
func (s bindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := generic.ValidateUpdate(obj, old, arvalidation.ValidateMutatingAdmissionPolicyBindingUpdate)
	if len(errs) != 0 {
		return errs
	}
	b, oldB := obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding), old.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
	if b.Spec.ParamRef == nil {
		return nil
	}
	if oldB.Spec.ParamRef != nil && *oldB.Spec.ParamRef == *b.Spec.ParamRef && oldB.Spec.PolicyName == b.Spec.PolicyName {
		return nil
	}
	if err := s.authorize(ctx, b); err != nil {
		return field.ErrorList{field.Forbidden(field.NewPath("spec", "paramRef"), err.Error())}
	}
	return nil
}

func (bindingStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	if utilfeature.DefaultFeatureGate.Enabled(features.ManifestBasedAdmissionControlConfig) {
		return nil
	}
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Name)
}

func (bindingStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return arvalidation.WarningsForStaticSuffix(obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Name)
}

// authorize checks that the writer may get (or, without a name, list) the
// parameters the binding refers to. What cannot be resolved (a missing
// policy, an unknown kind) widens the check to every resource.
func (s bindingStrategy) authorize(ctx context.Context, b *admissionregistrationv1.MutatingAdmissionPolicyBinding) error {
	if s.authorizer == nil {
		return nil
	}
	u, skip, ok := policyauthz.Requester(ctx)
	if skip {
		return nil
	}
	if !ok {
		return fmt.Errorf("cannot identify user to authorize read access to paramRef object")
	}
	policy, policyErr := s.policies.GetPolicy(ctx, b.Spec.PolicyName)
	var paramKind *admissionregistrationv1.ParamKind
	if policyErr == nil {
		paramKind = policy.Spec.ParamKind
	}
	target := policyauthz.ResolveParamKind(s.resolver, paramKind)
	attrs := policyauthz.ParamRefAttributes(u, target, b.Spec.ParamRef)
	decision, _, err := s.authorizer.Authorize(ctx, attrs)
	if err != nil {
		return err
	}
	if decision == authorizer.DecisionAllow {
		return nil
	}
	switch {
	case policyErr != nil:
		return fmt.Errorf(`unable to get policy %s to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, b.Spec.PolicyName, u, attrs.Verb)
	case target.ParseErr != nil:
		return fmt.Errorf(`unable to parse paramKind %v to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, paramKind, u, attrs.Verb)
	case target.ResolveErr != nil:
		return fmt.Errorf(`unable to resolve paramKind %v to determine minimum required permissions and user %v does not have "%v" permission for all groups, versions and resources`, paramKind, u, attrs.Verb)
	}
	// Upstream prints the verb and the user in this order here.
	return fmt.Errorf(`user %v does not have "%v" permission on the object referenced by paramRef`, attrs.Verb, u)
}
