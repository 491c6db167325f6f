// Package tokenreview serves authentication.k8s.io/v1 TokenReviews: a
// create-only resource that authenticates a bearer token with the API
// server's own authenticators and says whom it belongs to. Nothing is stored.
package tokenreview

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
)

// REST answers TokenReviews.
type REST struct {
	authenticator authenticator.Request
	apiAudiences  authenticator.Audiences
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the TokenReview storage. apiAudiences are checked when a
// review names no audiences. With a nil authenticator every review is
// returned unanswered.
func NewREST(authn authenticator.Request, apiAudiences authenticator.Audiences) *REST {
	return &REST{authenticator: authn, apiAudiences: apiAudiences}
}

func (r *REST) New() runtime.Object     { return &authenticationv1.TokenReview{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "tokenreview" }

// Create authenticates the token as if it came in an Authorization header.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(*authenticationv1.TokenReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a TokenReview: %T", obj))
	}
	if ns := genericapirequest.NamespaceValue(ctx); ns != "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("namespace is not allowed on this type: %v", ns))
	}
	if review.Spec.Token == "" {
		return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if r.authenticator == nil {
		return review, nil
	}

	req := &http.Request{Header: http.Header{}}
	req.Header.Add("Authorization", "Bearer "+review.Spec.Token)
	audiences := authenticator.Audiences(review.Spec.Audiences)
	if len(audiences) == 0 {
		audiences = r.apiAudiences
	}
	if len(audiences) > 0 {
		req = req.WithContext(authenticator.WithAudiences(req.Context(), audiences))
	}

	resp, authenticated, err := r.authenticator.AuthenticateRequest(req)
	review.Status.Authenticated = authenticated
	if err != nil {
		review.Status.Error = err.Error()
	}
	// An authenticator that ignores audiences must not confirm a token for
	// audiences it was not issued to.
	if len(audiences) > 0 && resp != nil && len(audiences.Intersect(resp.Audiences)) == 0 {
		klog.ErrorS(nil, "Authenticator returned no requested audience", "want", audiences, "got", resp.Audiences)
		return nil, apierrors.NewInternalError(errors.New("error validating audiences"))
	}
	if resp != nil && resp.User != nil {
		u := resp.User
		review.Status.User = authenticationv1.UserInfo{
			Username: u.GetName(),
			UID:      u.GetUID(),
			Groups:   u.GetGroups(),
			Extra:    map[string]authenticationv1.ExtraValue{},
		}
		for k, v := range u.GetExtra() {
			review.Status.User.Extra[k] = v
		}
		review.Status.Audiences = resp.Audiences
	}
	return review, nil
}
