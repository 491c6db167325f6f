package deviceclass

import (
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of deviceclasses.
type REST struct {
	*genericregistry.Store
}

// NewREST returns the storage of deviceclasses.
func NewREST(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resourcev1.DeviceClass{} },
		NewListFunc:               func() runtime.Object { return &resourcev1.DeviceClassList{} },
		DefaultQualifiedResource:  resourcev1.Resource("deviceclasses"),
		SingularQualifiedResource: resourcev1.Resource("deviceclass"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
