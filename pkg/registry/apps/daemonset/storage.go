package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of daemon sets.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames are the short names kubectl accepts for daemon sets.
func (r *REST) ShortNames() []string { return []string{"ds"} }

// Categories puts daemon sets in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Storage holds daemon sets and their status.
type Storage struct {
	DaemonSet *REST
	Status    *generic.StatusREST
}

// NewStorage returns the storage of daemon sets.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &appsv1.DaemonSet{} },
		NewListFunc:               func() runtime.Object { return &appsv1.DaemonSetList{} },
		DefaultQualifiedResource:  appsv1.Resource("daemonsets"),
		SingularQualifiedResource: appsv1.Resource("daemonset"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{
		DaemonSet: &REST{store},
		Status:    generic.NewStatusREST(store, statusStrategy),
	}, nil
}
