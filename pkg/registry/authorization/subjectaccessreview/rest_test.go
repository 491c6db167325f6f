package subjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// onlyAlice allows everything to alice and nothing to anyone else.
type onlyAlice struct{ saw authorizer.Attributes }

func (a *onlyAlice) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	a.saw = attrs
	if attrs.GetUser().GetName() == "alice" {
		return authorizer.DecisionAllow, "alice may", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func requestContext() context.Context {
	return genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		IsResourceRequest: true, Verb: "create", APIGroup: "authorization.k8s.io", APIVersion: "v1", Resource: "subjectaccessreviews",
	})
}

func TestSubjectAccessReview(t *testing.T) {
	tests := []struct {
		name        string
		spec        authorizationv1.SubjectAccessReviewSpec
		wantInvalid bool
		wantAllowed bool
	}{
		{
			name:        "named user allowed",
			spec:        authorizationv1.SubjectAccessReviewSpec{User: "alice", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}},
			wantAllowed: true,
		},
		{
			name: "named user not allowed",
			spec: authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}},
		},
		{
			name:        "no user or group",
			spec:        authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}},
			wantInvalid: true,
		},
		{
			name: "both resource and non-resource attributes",
			spec: authorizationv1.SubjectAccessReviewSpec{
				User:                  "alice",
				ResourceAttributes:    &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"},
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/x"},
			},
			wantInvalid: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			authz := &onlyAlice{}
			out, err := NewREST(authz).Create(requestContext(), &authorizationv1.SubjectAccessReview{Spec: tc.spec}, nil, nil)
			if tc.wantInvalid {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("err = %v, want Invalid", err)
				}
				if authz.saw != nil {
					t.Errorf("authorizer asked about an invalid review")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.(*authorizationv1.SubjectAccessReview).Status.Allowed; got != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v", got, tc.wantAllowed)
			}
			if authz.saw.GetUser().GetName() != tc.spec.User {
				t.Errorf("authorizer asked about %q, want the spec's user %q", authz.saw.GetUser().GetName(), tc.spec.User)
			}
		})
	}
}
