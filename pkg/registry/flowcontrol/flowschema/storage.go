package flowschema

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of flowschemas.
type REST struct {
	*genericregistry.Store
}

// Storage holds flowschemas and their status.
type Storage struct {
	FlowSchema *REST
	Status     *generic.StatusREST
}

// NewStorage returns the storage of flowschemas.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &flowcontrolv1.FlowSchema{} },
		NewListFunc:               func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} },
		DefaultQualifiedResource:  flowcontrolv1.Resource("flowschemas"),
		SingularQualifiedResource: flowcontrolv1.Resource("flowschema"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{FlowSchema: &REST{store}, Status: generic.NewStatusREST(store, statusStrategy)}, nil
}
