package cronjob

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of cron jobs.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames are the short names kubectl accepts for cron jobs.
func (r *REST) ShortNames() []string { return []string{"cj"} }

// Categories puts cron jobs in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Storage holds cron jobs and their status.
type Storage struct {
	CronJob *REST
	Status  *generic.StatusREST
}

// NewStorage returns the storage of cron jobs.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &batchv1.CronJob{} },
		NewListFunc:               func() runtime.Object { return &batchv1.CronJobList{} },
		DefaultQualifiedResource:  batchv1.Resource("cronjobs"),
		SingularQualifiedResource: batchv1.Resource("cronjob"),

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
		CronJob: &REST{store},
		Status:  generic.NewStatusREST(store, statusStrategy),
	}, nil
}
