package persistentvolume

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// Storage holds PersistentVolumes and their status.
type Storage struct {
	PersistentVolume *REST
	Status           *skiffgeneric.StatusREST
}

// REST is the storage of PersistentVolumes.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// NewStorage returns the storage of PersistentVolumes.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.PersistentVolume{} },
		NewListFunc:               func() runtime.Object { return &corev1.PersistentVolumeList{} },
		DefaultQualifiedResource:  corev1.Resource("persistentvolumes"),
		SingularQualifiedResource: corev1.Resource("persistentvolume"),
		ReturnDeletedObject:       true,

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
		PersistentVolume: &REST{store},
		Status:           skiffgeneric.NewStatusREST(store, statusStrategy),
	}, nil
}

// ShortNames are the short names kubectl accepts for persistentvolumes.
func (r *REST) ShortNames() []string { return []string{"pv"} }
