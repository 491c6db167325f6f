package horizontalpodautoscaler

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of horizontal pod autoscalers.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames are the short names kubectl accepts for autoscalers.
func (r *REST) ShortNames() []string { return []string{"hpa"} }

// Categories puts autoscalers in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Storage holds autoscalers and their status. The same storage serves every
// version.
type Storage struct {
	Autoscaler *REST
	Status     *generic.StatusREST
}

// NewStorage returns the storage of horizontal pod autoscalers.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewListFunc:               func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		DefaultQualifiedResource:  autoscalingv2.Resource("horizontalpodautoscalers"),
		SingularQualifiedResource: autoscalingv2.Resource("horizontalpodautoscaler"),

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
		Autoscaler: &REST{store},
		Status:     generic.NewStatusREST(store, statusStrategy),
	}, nil
}
