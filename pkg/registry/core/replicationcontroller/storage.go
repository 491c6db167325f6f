package replicationcontroller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// Storage holds ReplicationControllers and their subresources.
type Storage struct {
	ReplicationController *REST
	Status                *skiffgeneric.StatusREST
	Scale                 *ScaleREST
}

// REST is the storage of ReplicationControllers.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// NewStorage returns the storage of ReplicationControllers.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.ReplicationController{} },
		NewListFunc:               func() runtime.Object { return &corev1.ReplicationControllerList{} },
		DefaultQualifiedResource:  corev1.Resource("replicationcontrollers"),
		SingularQualifiedResource: corev1.Resource("replicationcontroller"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	return &Storage{
		ReplicationController: &REST{store},
		Status:                skiffgeneric.NewStatusREST(store, statusStrategy),
		Scale:                 &ScaleREST{store: store},
	}, nil
}

// ShortNames are the short names kubectl accepts for replicationcontrollers.
func (r *REST) ShortNames() []string { return []string{"rc"} }

// Categories puts replicationcontrollers in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }
