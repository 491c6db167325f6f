package rbac

import (
	"context"
	"errors"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// fakeResolver holds a fixed set of the requester's rules and roles.
type fakeResolver struct {
	held  map[string]bool // "verb resource" the requester holds
	roles map[string][]rbacv1.PolicyRule
}

func (f fakeResolver) ConfirmNoEscalation(_ context.Context, rules []rbacv1.PolicyRule) error {
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, res := range r.Resources {
				if !f.held[v+" "+res] {
					return errors.New("not held: " + v + " " + res)
				}
			}
			if len(r.NonResourceURLs) > 0 && !f.held[v+" urls"] {
				return errors.New("not held: urls")
			}
		}
	}
	return nil
}

func (f fakeResolver) GetRoleReferenceRules(_ context.Context, ref rbacv1.RoleRef, _ string) ([]rbacv1.PolicyRule, error) {
	rules, ok := f.roles[ref.Kind+"/"+ref.Name]
	if !ok {
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterroles"), ref.Name)
	}
	return rules, nil
}

// allowVerbs authorizes exactly the listed "verb resource name" triples.
type allowVerbs map[string]bool

func (a allowVerbs) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if a[attrs.GetVerb()+" "+attrs.GetResource()+" "+attrs.GetName()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func requestCtx(resource, name string) context.Context {
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "u"})
	ctx = genericapirequest.WithNamespace(ctx, "ns")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: rbacv1.GroupName, Resource: resource, Name: name, Namespace: "ns",
	})
}

func TestPolicy(t *testing.T) {
	podsGet := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	secretsGet := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}
	resolver := fakeResolver{
		held:  map[string]bool{"get pods": true},
		roles: map[string][]rbacv1.PolicyRule{"ClusterRole/pod-reader": podsGet, "ClusterRole/secret-reader": secretsGet},
	}
	aggregated := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agg"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}
	binding := func(role string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
	}
	tests := []struct {
		name      string
		ctx       context.Context
		allowed   allowVerbs
		obj, old  runtime.Object
		wantError func(error) bool
	}{
		{"role with held rules", requestCtx("roles", "r"), nil,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: podsGet}, nil, nil},
		{"role with rules not held", requestCtx("roles", "r"), nil,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: secretsGet}, nil, apierrors.IsForbidden},
		{"escalate verb allows any rules", requestCtx("roles", "r"), allowVerbs{"escalate roles r": true},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: secretsGet}, nil, nil},
		{"aggregation rule needs every permission", requestCtx("clusterroles", "agg"), nil,
			aggregated, nil, apierrors.IsForbidden},
		{"removing an aggregation rule needs every permission too", requestCtx("clusterroles", "agg"), nil,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agg"}}, aggregated, apierrors.IsForbidden},
		{"binding to a held role", requestCtx("rolebindings", "b"), nil, binding("pod-reader"), nil, nil},
		{"binding to a role not held", requestCtx("rolebindings", "b"), nil, binding("secret-reader"), nil, apierrors.IsForbidden},
		{"bind verb allows the binding", requestCtx("rolebindings", "b"), allowVerbs{"bind clusterroles secret-reader": true},
			binding("secret-reader"), nil, nil},
		{"binding to a missing role", requestCtx("rolebindings", "b"), nil, binding("nope"), nil, apierrors.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Authorizer: tc.allowed, Resolver: resolver}
			err := p.ConfirmNoEscalation(tc.ctx, tc.obj, tc.old)
			switch {
			case tc.wantError == nil && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantError != nil && (err == nil || !tc.wantError(err)):
				t.Errorf("err = %v, want a different refusal", err)
			}
		})
	}
}
