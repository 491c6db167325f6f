package resourceslice

import (
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of resourceslices.
type REST struct {
	*genericregistry.Store
}

// NewREST returns the storage of resourceslices.
func NewREST(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resourcev1.ResourceSlice{} },
		NewListFunc:               func() runtime.Object { return &resourcev1.ResourceSliceList{} },
		PredicateFunc:             predicate,
		DefaultQualifiedResource:  resourcev1.Resource("resourceslices"),
		SingularQualifiedResource: resourcev1.Resource("resourceslice"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	options := &generic.StoreOptions{
		RESTOptions: optsGetter,
		AttrFunc:    getAttrs,
		TriggerFunc: map[string]storage.IndexerFunc{resourcev1.ResourceSliceSelectorNodeName: nodeNameTrigger},
		Indexers:    indexers(),
	}
	if err := store.CompleteWithOptions(options); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
