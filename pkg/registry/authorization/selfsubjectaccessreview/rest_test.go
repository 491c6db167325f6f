package selfsubjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// canListNodes allows alice to list nodes and nothing else.
type canListNodes struct{}

func (canListNodes) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser().GetName() == "alice" && a.GetVerb() == "list" && a.GetResource() == "nodes" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionDeny, "not listed", nil
}

func TestSelfSubjectAccessReviewAsksAboutRequester(t *testing.T) {
	base := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		IsResourceRequest: true, Verb: "create", APIGroup: "authorization.k8s.io", APIVersion: "v1", Resource: "selfsubjectaccessreviews",
	})
	listNodes := authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "nodes"}}
	tests := []struct {
		name        string
		user        user.Info
		spec        authorizationv1.SelfSubjectAccessReviewSpec
		wantErr     func(error) bool
		wantAllowed bool
		wantDenied  bool
	}{
		{name: "alice may", user: &user.DefaultInfo{Name: "alice"}, spec: listNodes, wantAllowed: true},
		{name: "bob may not", user: &user.DefaultInfo{Name: "bob"}, spec: listNodes, wantDenied: true},
		{name: "non-resource", user: &user.DefaultInfo{Name: "alice"}, spec: authorizationv1.SelfSubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/healthz"},
		}, wantDenied: true},
		{name: "no attributes", user: &user.DefaultInfo{Name: "alice"}, wantErr: apierrors.IsInvalid},
		{name: "no user", spec: listNodes, wantErr: apierrors.IsBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := base
			if tc.user != nil {
				ctx = genericapirequest.WithUser(ctx, tc.user)
			}
			out, err := NewREST(canListNodes{}).Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: tc.spec}, nil, nil)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("err = %v, want another kind", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			status := out.(*authorizationv1.SelfSubjectAccessReview).Status
			if status.Allowed != tc.wantAllowed || status.Denied != tc.wantDenied {
				t.Errorf("status = %+v, want allowed=%v denied=%v", status, tc.wantAllowed, tc.wantDenied)
			}
		})
	}
}
