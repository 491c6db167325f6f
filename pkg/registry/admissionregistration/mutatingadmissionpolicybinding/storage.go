package mutatingadmissionpolicybinding

import (
	"errors"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
)

// REST is the storage of mutatingadmissionpolicybindings.
type REST struct {
	*genericregistry.Store
}

var _ rest.CategoriesProvider = &REST{}

// Categories puts the resource in "api-extensions", as upstream does.
func (r *REST) Categories() []string { return []string{"api-extensions"} }

// NewREST returns the storage of mutatingadmissionpolicybindings. authz,
// policies and resolver check that writers of a paramRef may read the
// parameters; a nil authz skips the check.
func NewREST(optsGetter generic.RESTOptionsGetter, authz authorizer.UnconditionalAuthorizer, policies PolicyGetter, resolver policyauthz.ResourceResolver) (*REST, error) {
	if policies == nil || resolver == nil {
		return nil, errors.New("mutatingadmissionpolicybindings need the policies and a resource resolver")
	}
	strategy := newStrategy(authz, policies, resolver)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBinding{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("mutatingadmissionpolicybindings"),
		SingularQualifiedResource: admissionregistrationv1.Resource("mutatingadmissionpolicybinding"),

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
