package rbac

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
)

// Authorizer allows a request when a rule that applies to its user allows
// it; otherwise it has no opinion (RBAC never denies).
type Authorizer struct {
	resolver *RuleResolver
}

var (
	_ authorizer.Authorizer   = &Authorizer{}
	_ authorizer.RuleResolver = &Authorizer{}
)

// New returns the RBAC authorizer over resolver.
func New(resolver *RuleResolver) *Authorizer {
	return &Authorizer{resolver: resolver}
}

// Authorize implements authorizer.Authorizer.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	var reason string
	var errs []error
	allowed := false
	a.resolver.VisitRulesFor(ctx, attrs.GetUser(), attrs.GetNamespace(), func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil && RuleAllows(attrs, rule) {
			allowed = true
			reason = "RBAC: allowed by " + source.String()
			return false
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	if allowed {
		return authorizer.DecisionAllow, reason, nil
	}
	if klogV := klog.V(5); klogV.Enabled() {
		klogV.InfoS("RBAC: no rules authorize the request", "user", attrs.GetUser().GetName(), "groups", attrs.GetUser().GetGroups(), "request", describeRequest(attrs))
	}
	if len(errs) > 0 {
		return authorizer.DecisionNoOpinion, fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs)), nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// ConditionsAwareAuthorize implements authorizer.Authorizer; RBAC has no
// conditions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions implements authorizer.Authorizer.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor implements authorizer.RuleResolver: the rules of u in namespace,
// split into resource and non-resource rules.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	var resourceRules []authorizer.ResourceRuleInfo
	var nonResourceRules []authorizer.NonResourceRuleInfo
	rules, err := a.resolver.RulesFor(ctx, u, namespace)
	for _, r := range rules {
		if len(r.Resources) > 0 {
			resourceRules = append(resourceRules, &authorizer.DefaultResourceRuleInfo{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames,
			})
		}
		if len(r.NonResourceURLs) > 0 {
			nonResourceRules = append(nonResourceRules, &authorizer.DefaultNonResourceRuleInfo{
				Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs,
			})
		}
	}
	return resourceRules, nonResourceRules, false, err
}

// RulesAllow reports whether any of rules allows the request.
func RulesAllow(attrs authorizer.Attributes, rules ...rbacv1.PolicyRule) bool {
	for i := range rules {
		if RuleAllows(attrs, &rules[i]) {
			return true
		}
	}
	return false
}

// RuleAllows reports whether rule allows the request, with upstream's
// matching (verbs, groups, resource/subresource, names, URL prefixes).
func RuleAllows(attrs authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if !attrs.IsResourceRequest() {
		return rbacv1helpers.VerbMatches(rule, attrs.GetVerb()) && rbacv1helpers.NonResourceURLMatches(rule, attrs.GetPath())
	}
	resource := attrs.GetResource()
	if sub := attrs.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	return rbacv1helpers.VerbMatches(rule, attrs.GetVerb()) &&
		rbacv1helpers.APIGroupMatches(rule, attrs.GetAPIGroup()) &&
		rbacv1helpers.ResourceMatches(rule, resource, attrs.GetSubresource()) &&
		rbacv1helpers.ResourceNameMatches(rule, attrs.GetName())
}

func describeRequest(attrs authorizer.Attributes) string {
	var b strings.Builder
	if !attrs.IsResourceRequest() {
		fmt.Fprintf(&b, "%q nonResourceURL %q", attrs.GetVerb(), attrs.GetPath())
		return b.String()
	}
	fmt.Fprintf(&b, "%q resource %q", attrs.GetVerb(), attrs.GetResource())
	if attrs.GetAPIGroup() != "" {
		fmt.Fprintf(&b, " in group %q", attrs.GetAPIGroup())
	}
	if attrs.GetSubresource() != "" {
		fmt.Fprintf(&b, " subresource %q", attrs.GetSubresource())
	}
	if attrs.GetName() != "" {
		fmt.Fprintf(&b, " named %q", attrs.GetName())
	}
	if attrs.GetNamespace() != "" {
		fmt.Fprintf(&b, " in namespace %q", attrs.GetNamespace())
	} else {
		b.WriteString(" cluster-wide")
	}
	return b.String()
}
