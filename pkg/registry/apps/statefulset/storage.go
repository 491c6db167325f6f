package statefulset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/generic/scale"
)

// REST is the storage of stateful sets.
type REST struct {
	*genericregistry.Store
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames are the short names kubectl accepts for stateful sets.
func (r *REST) ShortNames() []string { return []string{"sts"} }

// Categories puts stateful sets in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Storage holds stateful sets and their subresources.
type Storage struct {
	StatefulSet *REST
	Status      *generic.StatusREST
	Scale       *scale.REST
}

// replicasPaths is where each served version keeps the desired replicas.
var replicasPaths = managedfields.ResourcePathMappings{
	appsv1.SchemeGroupVersion.String(): fieldpath.MakePathOrDie("spec", "replicas"),
}

// NewStorage returns the storage of stateful sets.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &appsv1.StatefulSet{} },
		NewListFunc:               func() runtime.Object { return &appsv1.StatefulSetList{} },
		DefaultQualifiedResource:  appsv1.Resource("statefulsets"),
		SingularQualifiedResource: appsv1.Resource("statefulset"),

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
		StatefulSet: &REST{store},
		Status:      generic.NewStatusREST(store, statusStrategy),
		Scale:       scale.NewREST(store, replicasPaths, replicasAccessor{}),
	}, nil
}

// replicasAccessor exposes a stateful set's replicas through /scale.
type replicasAccessor struct{}

func (replicasAccessor) Replicas(obj runtime.Object) (scale.Replicas, error) {
	ss, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return scale.Replicas{}, fmt.Errorf("not a stateful set: %T", obj)
	}
	selector, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector)
	if err != nil {
		return scale.Replicas{}, err
	}
	return scale.Replicas{Desired: ptr.Deref(ss.Spec.Replicas, 0), Current: ss.Status.Replicas, Selector: selector.String()}, nil
}

func (replicasAccessor) SetReplicas(obj runtime.Object, replicas int32) {
	obj.(*appsv1.StatefulSet).Spec.Replicas = &replicas
}
