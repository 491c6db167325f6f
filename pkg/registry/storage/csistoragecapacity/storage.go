package csistoragecapacity

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// REST is the storage of csistoragecapacities.
type REST struct {
	*genericregistry.Store
}

// NewREST returns the storage of csistoragecapacities.
func NewREST(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	resource := storagev1.Resource("csistoragecapacities")
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &storagev1.CSIStorageCapacity{} },
		NewListFunc:               func() runtime.Object { return &storagev1.CSIStorageCapacityList{} },
		DefaultQualifiedResource:  resource,
		SingularQualifiedResource: storagev1.Resource("csistoragecapacity"),

		CreateStrategy: strategy,
		UpdateStrategy: strategy,
		DeleteStrategy: strategy,

		// Upstream's server prints only NAME and CREATED AT for these,
		// although its printers know more columns.
		TableConvertor: rest.NewDefaultTableConvertor(resource),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
