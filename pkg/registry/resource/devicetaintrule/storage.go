package devicetaintrule

import (
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of devicetaintrules.
type REST struct {
	*genericregistry.Store
}

// Storage holds devicetaintrules and their status.
type Storage struct {
	DeviceTaintRule *REST
	Status          *generic.StatusREST
}

// NewStorage returns the storage of devicetaintrules (v1: a delete returns
// a status, not the deleted object).
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resourcev1.DeviceTaintRule{} },
		NewListFunc:               func() runtime.Object { return &resourcev1.DeviceTaintRuleList{} },
		DefaultQualifiedResource:  resourcev1.Resource("devicetaintrules"),
		SingularQualifiedResource: resourcev1.Resource("devicetaintrule"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{DeviceTaintRule: &REST{store}, Status: generic.NewStatusREST(store, statusStrategy)}, nil
}
