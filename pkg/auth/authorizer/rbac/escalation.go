package rbac

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-helpers/auth/rbac/validation"
	"k8s.io/klog/v2"

	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
)

// ConfirmNoEscalation returns an error, in upstream's words, unless the
// requesting user's own rules in the request's namespace cover rules.
func (r *RuleResolver) ConfirmNoEscalation(ctx context.Context, rules []rbacv1.PolicyRule) error {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return fmt.Errorf("no user on context")
	}
	namespace, _ := genericapirequest.NamespaceFrom(ctx)
	var resolutionErrors []error
	ownerRules, err := r.RulesFor(ctx, u, namespace)
	if err != nil {
		// The rules found are still valid; note the error and go on.
		klog.V(1).InfoS("Non-fatal error getting a user's rules", "user", u.GetName(), "err", err)
		resolutionErrors = append(resolutionErrors, err)
	}
	covered, missing := validation.Covers(ownerRules, rules)
	if covered {
		return nil
	}
	descriptions := map[string]bool{}
	for _, rule := range compactRules(missing) {
		descriptions[rbacv1helpers.CompactString(rule)] = true
	}
	lines := make([]string, 0, len(descriptions))
	for d := range descriptions {
		lines = append(lines, d)
	}
	sort.Strings(lines)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.GetName(), u.GetGroups(), strings.Join(lines, "\n"))
	if len(resolutionErrors) > 0 {
		msg += fmt.Sprintf("; resolution errors: %v", resolutionErrors)
	}
	return errors.New(msg)
}

// simpleResource identifies rules that name one group, one resource and at
// most one name: compactRules merges their verbs.
type simpleResource struct {
	group, resource string
	hasName         bool
	name            string
}

// compactRules merges rules that differ only in verbs, so that a missing
// permission prints as one line per resource (Covers returns one rule per
// verb).
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	compacted := make([]rbacv1.PolicyRule, 0, len(rules))
	simple := map[simpleResource]*rbacv1.PolicyRule{}
	var order []simpleResource
	for _, rule := range rules {
		key, ok := simpleResourceOf(&rule)
		if !ok {
			compacted = append(compacted, rule)
			continue
		}
		if existing, found := simple[key]; found {
			existing.Verbs = append(existing.Verbs, rule.Verbs...)
			continue
		}
		simple[key] = rule.DeepCopy()
		order = append(order, key)
	}
	for _, key := range order {
		compacted = append(compacted, *simple[key])
	}
	return compacted
}

func simpleResourceOf(rule *rbacv1.PolicyRule) (simpleResource, bool) {
	if len(rule.ResourceNames) > 1 || len(rule.NonResourceURLs) > 0 || len(rule.APIGroups) != 1 || len(rule.Resources) != 1 {
		return simpleResource{}, false
	}
	plain := &rbacv1.PolicyRule{APIGroups: rule.APIGroups, Resources: rule.Resources, Verbs: rule.Verbs, ResourceNames: rule.ResourceNames}
	if !reflect.DeepEqual(plain, rule) {
		return simpleResource{}, false
	}
	key := simpleResource{group: rule.APIGroups[0], resource: rule.Resources[0]}
	if len(rule.ResourceNames) == 1 {
		key.hasName, key.name = true, rule.ResourceNames[0]
	}
	return key, true
}
