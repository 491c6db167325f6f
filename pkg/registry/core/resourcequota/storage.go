package resourcequota

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of resource quotas.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// Storage holds resource quotas and their status.
type Storage struct {
	ResourceQuota *REST
	Status        *skiffgeneric.StatusREST
}

// NewStorage returns the storage of resource quotas.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.ResourceQuota{} },
		NewListFunc:               func() runtime.Object { return &corev1.ResourceQuotaList{} },
		DefaultQualifiedResource:  corev1.Resource("resourcequotas"),
		SingularQualifiedResource: corev1.Resource("resourcequota"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{
		ResourceQuota: &REST{store},
		Status:        skiffgeneric.NewStatusREST(store, statusStrategy),
	}, nil
}

// ShortNames are the short names kubectl accepts for resource quotas.
func (r *REST) ShortNames() []string { return []string{"quota"} }
