package accessreview

import (
	"context"
	"errors"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type decideFunc func(a authorizer.Attributes) (authorizer.Decision, string, error)

func (f decideFunc) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	return f(a)
}

func TestAnswer(t *testing.T) {
	u := &user.DefaultInfo{Name: "alice"}
	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		authz decideFunc
		want  authorizationv1.SubjectAccessReviewStatus
	}{
		{
			name:  "allowed",
			attrs: ResourceAttributes(u, authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}),
			authz: func(authorizer.Attributes) (authorizer.Decision, string, error) {
				return authorizer.DecisionAllow, "rule x", nil
			},
			want: authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "rule x"},
		},
		{
			name:  "denied with evaluation error",
			attrs: ResourceAttributes(u, authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}),
			authz: func(authorizer.Attributes) (authorizer.Decision, string, error) {
				return authorizer.DecisionDeny, "no", errors.New("boom")
			},
			want: authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "no", EvaluationError: "boom"},
		},
		{
			name: "unparseable selectors are reported",
			attrs: ResourceAttributes(u, authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "pods",
				LabelSelector: &authorizationv1.LabelSelectorAttributes{RawSelector: "a in (b"},
				FieldSelector: &authorizationv1.FieldSelectorAttributes{Requirements: []metav1.FieldSelectorRequirement{
					{Key: "spec.nodeName", Operator: metav1.FieldSelectorOpIn, Values: []string{"n1"}},
					{Key: "x", Operator: metav1.FieldSelectorOpExists},
				}},
			}),
			authz: func(authorizer.Attributes) (authorizer.Decision, string, error) {
				return authorizer.DecisionNoOpinion, "", nil
			},
			want: authorizationv1.SubjectAccessReviewStatus{
				EvaluationError: "spec.resourceAttributes.fieldSelector partially ignored due to parse error; spec.resourceAttributes.labelSelector ignored due to parse error",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Answer(context.Background(), tc.authz, tc.attrs); got != tc.want {
				t.Errorf("status = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSpecAttributes(t *testing.T) {
	attrs := SpecAttributes(authorizationv1.SubjectAccessReviewSpec{
		User:   "bob",
		Groups: []string{"devs"},
		Extra:  map[string]authorizationv1.ExtraValue{"k": {"v"}},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "ns", Verb: "watch", Group: "apps", Resource: "deployments", Subresource: "scale", Name: "d",
		},
	})
	if attrs.User.GetName() != "bob" || attrs.User.GetGroups()[0] != "devs" || attrs.User.GetExtra()["k"][0] != "v" {
		t.Errorf("user = %+v", attrs.User)
	}
	if !attrs.ResourceRequest || attrs.Verb != "watch" || attrs.Namespace != "ns" || attrs.APIGroup != "apps" ||
		attrs.APIVersion != "*" || attrs.Resource != "deployments" || attrs.Subresource != "scale" || attrs.Name != "d" {
		t.Errorf("attributes = %+v", attrs)
	}

	nonResource := SpecAttributes(authorizationv1.SubjectAccessReviewSpec{
		User:                  "bob",
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"},
	})
	if nonResource.ResourceRequest || nonResource.Path != "/healthz" || nonResource.Verb != "get" {
		t.Errorf("non-resource attributes = %+v", nonResource)
	}
}
