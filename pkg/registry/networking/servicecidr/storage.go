package servicecidr

import (
	"errors"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericapiserver "k8s.io/apiserver/pkg/server"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Storage holds ServiceCIDRs and their status.
type Storage struct {
	ServiceCIDR *REST
	Status      *generic.StatusREST
}

// REST is the storage of ServiceCIDRs. Its post-start hook keeps the
// default ServiceCIDR (DefaultController).
type REST struct {
	*genericregistry.Store
	defaults *DefaultController
}

var _ genericapiserver.PostStartHookProvider = &REST{}

// NewStorage returns the storage of ServiceCIDRs. With c.ServiceIPRange and
// c.LoopbackClientConfig set, its post-start hook creates the default
// ServiceCIDR "kubernetes".
func NewStorage(c generic.StorageConfig) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &networkingv1.ServiceCIDR{} },
		NewListFunc:               func() runtime.Object { return &networkingv1.ServiceCIDRList{} },
		DefaultQualifiedResource:  networkingv1.Resource("servicecidrs"),
		SingularQualifiedResource: networkingv1.Resource("servicecidr"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: c.RESTOptionsGetter}); err != nil {
		return nil, err
	}
	r := &REST{Store: store}
	if c.LoopbackClientConfig != nil && c.ServiceIPRange != nil {
		client, err := networkingv1client.NewForConfig(c.LoopbackClientConfig)
		if err != nil {
			return nil, fmt.Errorf("loopback client: %w", err)
		}
		r.defaults = NewDefaultController(client, c.ServiceIPRange)
	}
	return &Storage{ServiceCIDR: r, Status: generic.NewStatusREST(store, statusStrategy)}, nil
}

// PostStartHook creates the default ServiceCIDR and keeps it afterwards.
func (r *REST) PostStartHook() (string, genericapiserver.PostStartHookFunc, error) {
	if r.defaults == nil {
		return "", nil, errors.New("no service IP range or loopback client: the default ServiceCIDR cannot be kept")
	}
	return DefaultHookName, func(ctx genericapiserver.PostStartHookContext) error {
		return r.defaults.Start(ctx)
	}, nil
}
