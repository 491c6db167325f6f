// Package subjectaccessreview serves authorization.k8s.io/v1
// SubjectAccessReviews: a create-only resource that asks the API server's
// authorizer whether a given user may do something. Nothing is stored.
package subjectaccessreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/registry/authorization/accessreview"
)

// REST answers SubjectAccessReviews.
type REST struct {
	authorizer authorizer.UnconditionalAuthorizer
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the SubjectAccessReview storage.
func NewREST(authz authorizer.UnconditionalAuthorizer) *REST { return &REST{authorizer: authz} }

func (r *REST) New() runtime.Object     { return &authorizationv1.SubjectAccessReview{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "subjectaccessreview" }

// Create answers the review for the user its spec names.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	sar, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SubjectAccessReview: %T", obj))
	}
	if errs := accessreview.ValidateSubjectAccessReview(ctx, sar); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(sar.Kind).GroupKind(), "", errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	sar.Status = accessreview.Answer(ctx, r.authorizer, accessreview.SpecAttributes(sar.Spec))
	return sar, nil
}
