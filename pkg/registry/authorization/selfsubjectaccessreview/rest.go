// Package selfsubjectaccessreview serves authorization.k8s.io/v1
// SelfSubjectAccessReviews (kubectl auth can-i): may the requesting user do
// something? Nothing is stored.
package selfsubjectaccessreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/registry/authorization/accessreview"
)

// REST answers SelfSubjectAccessReviews.
type REST struct {
	authorizer authorizer.UnconditionalAuthorizer
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the SelfSubjectAccessReview storage.
func NewREST(authz authorizer.UnconditionalAuthorizer) *REST { return &REST{authorizer: authz} }

func (r *REST) New() runtime.Object     { return &authorizationv1.SelfSubjectAccessReview{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "selfsubjectaccessreview" }

// Create answers the review for the requesting user.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	sar, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectAccessReview: %T", obj))
	}
	if errs := accessreview.ValidateSelfSubjectAccessReview(ctx, sar); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(sar.Kind).GroupKind(), "", errs)
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	var attrs authorizer.AttributesRecord
	if sar.Spec.ResourceAttributes != nil {
		attrs = accessreview.ResourceAttributes(u, *sar.Spec.ResourceAttributes)
	} else {
		attrs = accessreview.NonResourceAttributes(u, *sar.Spec.NonResourceAttributes)
	}
	sar.Status = accessreview.Answer(ctx, r.authorizer, attrs)
	return sar, nil
}
