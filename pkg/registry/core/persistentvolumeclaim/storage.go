package persistentvolumeclaim

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	skiffgeneric "github.com/skiff-project/skiff/pkg/registry/generic"
)

// Storage holds PersistentVolumeClaims and their status.
type Storage struct {
	PersistentVolumeClaim *REST
	Status                *skiffgeneric.StatusREST
}

// REST is the storage of PersistentVolumeClaims.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// NewStorage returns the storage of PersistentVolumeClaims.
func NewStorage(optsGetter generic.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewListFunc:               func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		DefaultQualifiedResource:  corev1.Resource("persistentvolumeclaims"),
		SingularQualifiedResource: corev1.Resource("persistentvolumeclaim"),
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
	// The status store is copied before the read hook is set, as upstream.
	status := skiffgeneric.NewStatusREST(store, statusStrategy)
	store.Decorator = normalizeOnRead
	return &Storage{PersistentVolumeClaim: &REST{store}, Status: status}, nil
}

// ShortNames are the short names kubectl accepts for persistentvolumeclaims.
func (r *REST) ShortNames() []string { return []string{"pvc"} }

// normalizeOnRead fills dataSource/dataSourceRef of claims stored before
// dataSourceRef existed.
func normalizeOnRead(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.PersistentVolumeClaim:
		normalizeDataSources(&o.Spec)
	case *corev1.PersistentVolumeClaimList:
		for i := range o.Items {
			normalizeDataSources(&o.Items[i].Spec)
		}
	}
}
