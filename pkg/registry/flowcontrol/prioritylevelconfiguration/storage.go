package prioritylevelconfiguration

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of prioritylevelconfigurations.
type REST struct {
	*genericregistry.Store
}

// Storage holds prioritylevelconfigurations and their status.
type Storage struct {
	PriorityLevelConfiguration *REST
	Status                     *generic.StatusREST
}

// NewStorage returns the storage of prioritylevelconfigurations.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} },
		NewListFunc:               func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} },
		DefaultQualifiedResource:  flowcontrolv1.Resource("prioritylevelconfigurations"),
		SingularQualifiedResource: flowcontrolv1.Resource("prioritylevelconfiguration"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{PriorityLevelConfiguration: &REST{store}, Status: generic.NewStatusREST(store, statusStrategy)}, nil
}
