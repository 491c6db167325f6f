package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of ingresses.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// Storage holds ingresses and their status subresource.
type Storage struct {
	Ingress *REST
	Status  *skiffgeneric.StatusREST
}

// NewStorage returns the storage of ingresses.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &networkingv1.Ingress{} },
		NewListFunc:               func() runtime.Object { return &networkingv1.IngressList{} },
		DefaultQualifiedResource:  networkingv1.Resource("ingresses"),
		SingularQualifiedResource: networkingv1.Resource("ingress"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{
		Ingress: &REST{store},
		Status:  skiffgeneric.NewStatusREST(store, statusStrategy),
	}, nil
}

// ShortNames are the short names kubectl accepts for ingresses.
func (r *REST) ShortNames() []string { return []string{"ing"} }
