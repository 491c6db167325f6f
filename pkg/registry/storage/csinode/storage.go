package csinode

import (
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of csinodes.
type REST struct {
	*genericregistry.Store
}

// Storage holds csinodes and their status subresource.
type Storage struct {
	CSINode *REST
	Status  *skiffgeneric.StatusREST
}

// NewStorage returns the storage of csinodes.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &storagev1.CSINode{} },
		NewListFunc:               func() runtime.Object { return &storagev1.CSINodeList{} },
		DefaultQualifiedResource:  storagev1.Resource("csinodes"),
		SingularQualifiedResource: storagev1.Resource("csinode"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{
		CSINode: &REST{store},
		Status:  skiffgeneric.NewStatusREST(store, statusStrategy),
	}, nil
}
