package localsubjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

type allowAll struct{ asked int }

func (a *allowAll) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	a.asked++
	return authorizer.DecisionAllow, "", nil
}

func TestLocalSubjectAccessReviewNamespace(t *testing.T) {
	review := func(metaNS, attrNS string) *authorizationv1.LocalSubjectAccessReview {
		return &authorizationv1.LocalSubjectAccessReview{
			ObjectMeta: metav1.ObjectMeta{Namespace: metaNS},
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "bob",
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: attrNS},
			},
		}
	}
	tests := []struct {
		name      string
		requestNS string
		review    *authorizationv1.LocalSubjectAccessReview
		wantErr   func(error) bool
	}{
		{name: "matching namespaces", requestNS: "team", review: review("team", "team")},
		{name: "attributes in another namespace", requestNS: "team", review: review("team", "other"), wantErr: apierrors.IsInvalid},
		{name: "object in another namespace than the request", requestNS: "team", review: review("other", "other"), wantErr: apierrors.IsBadRequest},
		{name: "no namespace in the request", requestNS: "", review: review("team", "team"), wantErr: apierrors.IsBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
				IsResourceRequest: true, Verb: "create", APIGroup: "authorization.k8s.io", APIVersion: "v1",
				Resource: "localsubjectaccessreviews", Namespace: tc.requestNS,
			})
			ctx = genericapirequest.WithNamespace(ctx, tc.requestNS)
			authz := &allowAll{}
			out, err := NewREST(authz).Create(ctx, tc.review, nil, nil)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("err = %v, want another kind", err)
				}
				if authz.asked != 0 {
					t.Errorf("authorizer asked about a refused review")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !out.(*authorizationv1.LocalSubjectAccessReview).Status.Allowed {
				t.Errorf("not allowed")
			}
		})
	}
}
