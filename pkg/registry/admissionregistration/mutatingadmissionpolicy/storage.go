package mutatingadmissionpolicy

import (
	"context"
	"errors"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
)

// REST is the storage of mutatingadmissionpolicies.
type REST struct {
	*genericregistry.Store
}

var _ rest.CategoriesProvider = &REST{}

// Categories puts the resource in "api-extensions", as upstream does.
func (r *REST) Categories() []string { return []string{"api-extensions"} }

// GetPolicy returns the stored policy called name; bindings use it to find
// the paramKind their writer must be able to read.
func (r *REST) GetPolicy(ctx context.Context, name string) (*admissionregistrationv1.MutatingAdmissionPolicy, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*admissionregistrationv1.MutatingAdmissionPolicy), nil
}

// NewREST returns the storage of mutatingadmissionpolicies. authz and
// resolver check that writers of a paramKind may read the parameters; a nil
// authz skips the check.
func NewREST(optsGetter generic.RESTOptionsGetter, authz authorizer.UnconditionalAuthorizer, resolver policyauthz.ResourceResolver) (*REST, error) {
	if resolver == nil {
		return nil, errors.New("mutatingadmissionpolicies need a resource resolver")
	}
	strategy := newStrategy(authz, resolver)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicy{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("mutatingadmissionpolicies"),
		SingularQualifiedResource: admissionregistrationv1.Resource("mutatingadmissionpolicy"),

		CreateStrategy: strategy,
		UpdateStrategy: strategy,
		DeleteStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
