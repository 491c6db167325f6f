package resourceclaimtemplate

import (
	"errors"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of resourceclaimtemplates.
type REST struct {
	*genericregistry.Store
}

// NewREST returns the storage of resourceclaimtemplates; namespaces is read
// to check admin access.
func NewREST(optsGetter generic.RESTOptionsGetter, namespaces corev1client.NamespaceInterface) (*REST, error) {
	if namespaces == nil {
		return nil, errors.New("resourceclaimtemplates need a namespace client")
	}
	strategy := newStrategy(namespaces)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} },
		NewListFunc:               func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} },
		DefaultQualifiedResource:  resourcev1.Resource("resourceclaimtemplates"),
		SingularQualifiedResource: resourcev1.Resource("resourceclaimtemplate"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
