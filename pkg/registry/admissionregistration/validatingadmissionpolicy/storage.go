package validatingadmissionpolicy

import (
	"context"
	"errors"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of validatingadmissionpolicies.
type REST struct {
	*genericregistry.Store
}

var _ rest.CategoriesProvider = &REST{}

// Categories puts the resource in "api-extensions", as upstream does.
func (r *REST) Categories() []string { return []string{"api-extensions"} }

// GetPolicy returns the stored policy called name; bindings use it to find
// the paramKind their writer must be able to read.
func (r *REST) GetPolicy(ctx context.Context, name string) (*admissionregistrationv1.ValidatingAdmissionPolicy, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*admissionregistrationv1.ValidatingAdmissionPolicy), nil
}

// Storage holds validatingadmissionpolicies and their status.
type Storage struct {
	Policy *REST
	Status *generic.StatusREST
}

// NewStorage returns the storage of validatingadmissionpolicies. authz and
// resolver check that writers of a paramKind may read the parameters; a nil
// authz skips the check.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter, authz authorizer.UnconditionalAuthorizer, resolver policyauthz.ResourceResolver) (*Storage, error) {
	if resolver == nil {
		return nil, errors.New("validatingadmissionpolicies need a resource resolver")
	}
	strategy := newStrategy(authz, resolver)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("validatingadmissionpolicies"),
		SingularQualifiedResource: admissionregistrationv1.Resource("validatingadmissionpolicy"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{
		Policy: &REST{store},
		Status: generic.NewStatusREST(store, policyStatusStrategy{strategy}),
	}, nil
}
