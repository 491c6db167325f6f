// Package localsubjectaccessreview serves authorization.k8s.io/v1
// LocalSubjectAccessReviews: SubjectAccessReviews confined to one namespace,
// which namespace admins may be allowed to create. Nothing is stored.
package localsubjectaccessreview

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

// REST answers LocalSubjectAccessReviews.
type REST struct {
	authorizer authorizer.UnconditionalAuthorizer
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the LocalSubjectAccessReview storage.
func NewREST(authz authorizer.UnconditionalAuthorizer) *REST { return &REST{authorizer: authz} }

func (r *REST) New() runtime.Object     { return &authorizationv1.LocalSubjectAccessReview{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "localsubjectaccessreview" }

// Create answers the review; its namespace must be the request's.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	sar, ok := obj.(*authorizationv1.LocalSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a LocalSubjectAccessReview: %T", obj))
	}
	if errs := accessreview.ValidateLocalSubjectAccessReview(ctx, sar); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(sar.Kind).GroupKind(), "", errs)
	}
	namespace := genericapirequest.NamespaceValue(ctx)
	if namespace == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("namespace is required on this type: %v", namespace))
	}
	if namespace != sar.Namespace {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace: %v", namespace))
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	sar.Status = accessreview.Answer(ctx, r.authorizer, accessreview.SpecAttributes(sar.Spec))
	return sar, nil
}
