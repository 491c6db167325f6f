package storageversionmigration

import (
	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of storageversionmigrations.
type REST struct {
	*genericregistry.Store
}

// Storage holds storageversionmigrations and their status subresource.
type Storage struct {
	Migration *REST
	Status    *skiffgeneric.StatusREST
}

// NewStorage returns the storage of storageversionmigrations.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &storagemigrationv1.StorageVersionMigration{} },
		NewListFunc:               func() runtime.Object { return &storagemigrationv1.StorageVersionMigrationList{} },
		DefaultQualifiedResource:  storagemigrationv1.Resource("storageversionmigrations"),
		SingularQualifiedResource: storagemigrationv1.Resource("storageversionmigration"),

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
		Migration: &REST{store},
		Status:    skiffgeneric.NewStatusREST(store, statusStrategy),
	}, nil
}
