package job

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of jobs.
type REST struct {
	*genericregistry.Store
}

var _ rest.CategoriesProvider = &REST{}

// Categories puts jobs in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Storage holds jobs and their status.
type Storage struct {
	Job    *REST
	Status *generic.StatusREST
}

// NewStorage returns the storage of jobs.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &batchv1.Job{} },
		NewListFunc:               func() runtime.Object { return &batchv1.JobList{} },
		DefaultQualifiedResource:  batchv1.Resource("jobs"),
		SingularQualifiedResource: batchv1.Resource("job"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	return &Storage{
		Job:    &REST{store},
		Status: generic.NewStatusREST(store, statusStrategy),
	}, nil
}
