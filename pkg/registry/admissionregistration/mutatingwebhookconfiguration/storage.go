package mutatingwebhookconfiguration

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of mutatingwebhookconfigurations.
type REST struct {
	*genericregistry.Store
}

var _ rest.CategoriesProvider = &REST{}

// NewREST returns the storage of mutatingwebhookconfigurations.
func NewREST(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		NewListFunc:               func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
		DefaultQualifiedResource:  admissionregistrationv1.Resource("mutatingwebhookconfigurations"),
		SingularQualifiedResource: admissionregistrationv1.Resource("mutatingwebhookconfiguration"),

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

// Categories puts the resource in "api-extensions", as upstream does.
func (r *REST) Categories() []string { return []string{"api-extensions"} }
