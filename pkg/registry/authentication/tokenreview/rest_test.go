package tokenreview

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// fakeAuthenticator knows one token, "good", valid for audience "api"
// (or any audience when ignoreAudiences is set).
type fakeAuthenticator struct {
	ignoreAudiences bool
	sawAudiences    authenticator.Audiences
}

func (f *fakeAuthenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	f.sawAudiences, _ = authenticator.AudiencesFrom(req.Context())
	if req.Header.Get("Authorization") != "Bearer good" {
		return nil, false, errors.New("invalid bearer token")
	}
	resp := &authenticator.Response{
		User:      &user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"devs"}, Extra: map[string][]string{"k": {"v"}}},
		Audiences: authenticator.Audiences{"api"},
	}
	if f.ignoreAudiences {
		resp.Audiences = authenticator.Audiences{"elsewhere"}
	}
	return resp, true, nil
}

func review(token string, audiences ...string) *authenticationv1.TokenReview {
	return &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
}

func TestTokenReview(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		ctx           context.Context
		review        *authenticationv1.TokenReview
		authn         *fakeAuthenticator
		wantErr       func(error) bool
		wantStatus    authenticationv1.TokenReviewStatus
		wantAudiences authenticator.Audiences
	}{
		{
			name:    "token required",
			review:  review(""),
			authn:   &fakeAuthenticator{},
			wantErr: apierrors.IsBadRequest,
		},
		{
			name:    "namespace refused",
			ctx:     genericapirequest.WithNamespace(ctx, "default"),
			review:  review("good"),
			authn:   &fakeAuthenticator{},
			wantErr: apierrors.IsBadRequest,
		},
		{
			name:   "valid token: the token's user, API audiences by default",
			review: review("good"),
			authn:  &fakeAuthenticator{},
			wantStatus: authenticationv1.TokenReviewStatus{
				Authenticated: true,
				User: authenticationv1.UserInfo{
					Username: "alice", UID: "1", Groups: []string{"devs"},
					Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}},
				},
				Audiences: []string{"api"},
			},
			wantAudiences: authenticator.Audiences{"api"},
		},
		{
			name:          "invalid token: not authenticated, error reported",
			review:        review("bad", "api"),
			authn:         &fakeAuthenticator{},
			wantStatus:    authenticationv1.TokenReviewStatus{Error: "invalid bearer token"},
			wantAudiences: authenticator.Audiences{"api"},
		},
		{
			name:    "authenticator confirming other audiences is an internal error",
			review:  review("good", "api"),
			authn:   &fakeAuthenticator{ignoreAudiences: true},
			wantErr: apierrors.IsInternalError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqCtx := tc.ctx
			if reqCtx == nil {
				reqCtx = ctx
			}
			r := NewREST(tc.authn, authenticator.Audiences{"api"})
			out, err := r.Create(reqCtx, tc.review, nil, nil)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("err = %v, want another kind", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			got := out.(*authenticationv1.TokenReview).Status
			if !reflect.DeepEqual(got, tc.wantStatus) {
				t.Errorf("status = %+v, want %+v", got, tc.wantStatus)
			}
			if !reflect.DeepEqual(tc.authn.sawAudiences, tc.wantAudiences) {
				t.Errorf("authenticator saw audiences %v, want %v", tc.authn.sawAudiences, tc.wantAudiences)
			}
		})
	}
}
