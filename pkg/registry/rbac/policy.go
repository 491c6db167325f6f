package rbac

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// RoleResolver is what Policy needs from the RBAC authorizer's resolver.
type RoleResolver interface {
	// ConfirmNoEscalation fails unless the requesting user's rules in the
	// request's namespace cover rules.
	ConfirmNoEscalation(ctx context.Context, rules []rbacv1.PolicyRule) error
	// GetRoleReferenceRules returns the rules of the role a binding in
	// namespace ("" for cluster bindings) refers to.
	GetRoleReferenceRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error)
}

// Policy is upstream's escalation check: a user may write a role only with
// rules they hold themselves (or with the "escalate" verb on it), and a
// binding only to a role whose rules they hold (or with the "bind" verb on
// it). Setting a ClusterRole's aggregationRule needs every permission.
type Policy struct {
	Authorizer authorizer.UnconditionalAuthorizer
	Resolver   RoleResolver
}

var _ EscalationChecker = Policy{}

// fullAuthority is cluster-admin's rules.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
	{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
}

// ConfirmNoEscalation implements EscalationChecker.
func (p Policy) ConfirmNoEscalation(ctx context.Context, obj, old runtime.Object) error {
	switch o := obj.(type) {
	case *rbacv1.Role:
		if p.escalationAuthorized(ctx) {
			return nil
		}
		if err := p.Resolver.ConfirmNoEscalation(ctx, o.Rules); err != nil {
			return apierrors.NewForbidden(rbacv1.Resource("roles"), o.Name, err)
		}
		return nil
	case *rbacv1.ClusterRole:
		if p.escalationAuthorized(ctx) {
			return nil
		}
		if err := p.Resolver.ConfirmNoEscalation(ctx, o.Rules); err != nil {
			return apierrors.NewForbidden(rbacv1.Resource("clusterroles"), o.Name, err)
		}
		// An aggregationRule can gather anything (and changing one can keep
		// a role from tightening), so it takes every permission.
		oldRole, _ := old.(*rbacv1.ClusterRole)
		if hasAggregationRule(o) || (oldRole != nil && hasAggregationRule(oldRole)) {
			if err := p.Resolver.ConfirmNoEscalation(ctx, fullAuthority); err != nil {
				return apierrors.NewForbidden(rbacv1.Resource("clusterroles"), o.Name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
			}
		}
		return nil
	case *rbacv1.RoleBinding:
		namespace, ok := genericapirequest.NamespaceFrom(ctx)
		if !ok || namespace == "" {
			return apierrors.NewBadRequest("namespace is required")
		}
		return p.confirmBinding(ctx, rbacv1.Resource("rolebindings"), o.Name, o.RoleRef, namespace)
	case *rbacv1.ClusterRoleBinding:
		return p.confirmBinding(ctx, rbacv1.Resource("clusterrolebindings"), o.Name, o.RoleRef, "")
	}
	return apierrors.NewInternalError(fmt.Errorf("escalation check of unexpected type %T", obj))
}

func (p Policy) confirmBinding(ctx context.Context, resource schema.GroupResource, name string, ref rbacv1.RoleRef, namespace string) error {
	if p.bindingAuthorized(ctx, ref, namespace) {
		return nil
	}
	rules, err := p.Resolver.GetRoleReferenceRules(ctx, ref, namespace)
	if err != nil {
		return err
	}
	if err := p.Resolver.ConfirmNoEscalation(ctx, rules); err != nil {
		return apierrors.NewForbidden(resource, name, err)
	}
	return nil
}

// escalationAuthorized reports whether the user may "escalate" the role
// the request is about.
func (p Policy) escalationAuthorized(ctx context.Context) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || p.Authorizer == nil {
		return false
	}
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok || !info.IsResourceRequest || info.APIGroup != rbacv1.GroupName || (info.Resource != "roles" && info.Resource != "clusterroles") {
		return false
	}
	attrs := authorizer.AttributesRecord{
		User:            u,
		Verb:            "escalate",
		APIGroup:        info.APIGroup,
		APIVersion:      "*",
		Resource:        info.Resource,
		Name:            info.Name,
		Namespace:       info.Namespace,
		ResourceRequest: true,
	}
	decision, _, err := p.Authorizer.Authorize(ctx, attrs)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("authorize %q to escalate %s %q in namespace %q: %w", u.GetName(), info.Resource, info.Name, info.Namespace, err))
	}
	return decision == authorizer.DecisionAllow
}

// bindingAuthorized reports whether the user may "bind" the referenced role
// in namespace ("" for cluster bindings).
func (p Policy) bindingAuthorized(ctx context.Context, ref rbacv1.RoleRef, namespace string) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || p.Authorizer == nil {
		return false
	}
	attrs := authorizer.AttributesRecord{
		User:            u,
		Verb:            "bind",
		Namespace:       namespace,
		APIGroup:        ref.APIGroup,
		APIVersion:      "*",
		Name:            ref.Name,
		ResourceRequest: true,
	}
	switch ref.Kind {
	case "ClusterRole":
		attrs.Resource = "clusterroles"
	case "Role":
		attrs.Resource = "roles"
	default:
		return false
	}
	decision, _, err := p.Authorizer.Authorize(ctx, attrs)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("authorize %q to bind %v in namespace %q: %w", u.GetName(), ref, namespace, err))
	}
	return decision == authorizer.DecisionAllow
}

func hasAggregationRule(r *rbacv1.ClusterRole) bool {
	return r != nil && r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}
