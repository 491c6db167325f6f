// Package rbac is skiff's RBAC authorizer: upstream's rules for who may do
// what (Roles, ClusterRoles and their bindings, read through informers),
// the rule listing behind SelfSubjectRulesReview, and the escalation check
// that keeps users from granting permissions they do not hold.
package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
)

// RuleResolver finds the rules that apply to a user in a namespace: those
// of the ClusterRoleBindings naming the user and, in a namespace, those of
// its RoleBindings.
type RuleResolver struct {
	roles               rbaclisters.RoleLister
	roleBindings        rbaclisters.RoleBindingLister
	clusterRoles        rbaclisters.ClusterRoleLister
	clusterRoleBindings rbaclisters.ClusterRoleBindingLister
}

// NewRuleResolver reads RBAC objects from the given listers.
func NewRuleResolver(roles rbaclisters.RoleLister, roleBindings rbaclisters.RoleBindingLister,
	clusterRoles rbaclisters.ClusterRoleLister, clusterRoleBindings rbaclisters.ClusterRoleBindingLister) *RuleResolver {
	return &RuleResolver{roles: roles, roleBindings: roleBindings, clusterRoles: clusterRoles, clusterRoleBindings: clusterRoleBindings}
}

// Visitor receives each rule that applies (with the binding it came from)
// or each error met while resolving; returning false stops the visit.
type Visitor func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool

// RulesFor returns every rule that applies to u in namespace ("" for
// cluster-wide only). Rules are additive, so with an error the rules
// returned are still valid, just maybe incomplete.
func (r *RuleResolver) RulesFor(ctx context.Context, u user.Info, namespace string) ([]rbacv1.PolicyRule, error) {
	var rules []rbacv1.PolicyRule
	var errs []error
	r.VisitRulesFor(ctx, u, namespace, func(_ fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil {
			rules = append(rules, *rule)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	return rules, utilerrors.NewAggregate(errs)
}

// VisitRulesFor calls visit with each rule that applies to u in namespace,
// cluster-wide bindings first, as upstream.
func (r *RuleResolver) VisitRulesFor(ctx context.Context, u user.Info, namespace string, visit Visitor) {
	clusterRoleBindings, err := r.clusterRoleBindings.List(labels.Everything())
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	} else {
		for _, binding := range clusterRoleBindings {
			i, ok := appliesTo(u, binding.Subjects, "")
			if !ok {
				continue
			}
			rules, err := r.GetRoleReferenceRules(ctx, binding.RoleRef, "")
			if err != nil {
				if !visit(nil, nil, err) {
					return
				}
				continue
			}
			source := clusterRoleBindingSource{binding: binding, subject: &binding.Subjects[i]}
			for j := range rules {
				if !visit(source, &rules[j], nil) {
					return
				}
			}
		}
	}
	if namespace == "" {
		return
	}
	roleBindings, err := r.roleBindings.RoleBindings(namespace).List(labels.Everything())
	if err != nil {
		visit(nil, nil, err)
		return
	}
	for _, binding := range roleBindings {
		i, ok := appliesTo(u, binding.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := r.GetRoleReferenceRules(ctx, binding.RoleRef, namespace)
		if err != nil {
			if !visit(nil, nil, err) {
				return
			}
			continue
		}
		source := roleBindingSource{binding: binding, subject: &binding.Subjects[i]}
		for j := range rules {
			if !visit(source, &rules[j], nil) {
				return
			}
		}
	}
}

// GetRoleReferenceRules returns the rules of the role a binding in
// bindingNamespace ("" for a ClusterRoleBinding) refers to.
func (r *RuleResolver) GetRoleReferenceRules(_ context.Context, ref rbacv1.RoleRef, bindingNamespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		role, err := r.roles.Roles(bindingNamespace).Get(ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	case "ClusterRole":
		role, err := r.clusterRoles.Get(ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	default:
		return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
	}
}

// appliesTo returns the index of the first subject that names u.
func appliesTo(u user.Info, subjects []rbacv1.Subject, namespace string) (int, bool) {
	for i := range subjects {
		if subjectMatches(u, subjects[i], namespace) {
			return i, true
		}
	}
	return 0, false
}

func subjectMatches(u user.Info, s rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		for _, g := range u.GetGroups() {
			if g == s.Name {
				return true
			}
		}
		return false
	case rbacv1.ServiceAccountKind:
		// A service account subject without a namespace means the
		// binding's own.
		saNamespace := namespace
		if s.Namespace != "" {
			saNamespace = s.Namespace
		}
		return saNamespace != "" && serviceaccount.MatchesUsername(saNamespace, s.Name, u.GetName())
	}
	return false
}

func describeSubject(s *rbacv1.Subject, bindingNamespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// clusterRoleBindingSource and roleBindingSource name where an allowing
// rule came from, in upstream's words (they appear in audit annotations).
type clusterRoleBindingSource struct {
	binding *rbacv1.ClusterRoleBinding
	subject *rbacv1.Subject
}

func (d clusterRoleBindingSource) String() string {
	return fmt.Sprintf("ClusterRoleBinding %q of %s %q to %s", d.binding.Name, d.binding.RoleRef.Kind, d.binding.RoleRef.Name, describeSubject(d.subject, ""))
}

type roleBindingSource struct {
	binding *rbacv1.RoleBinding
	subject *rbacv1.Subject
}

func (d roleBindingSource) String() string {
	return fmt.Sprintf("RoleBinding %q of %s %q to %s", d.binding.Name+"/"+d.binding.Namespace, d.binding.RoleRef.Kind, d.binding.RoleRef.Name, describeSubject(d.subject, d.binding.Namespace))
}
