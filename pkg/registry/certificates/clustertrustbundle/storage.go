package clustertrustbundle

import (
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of clustertrustbundles.
type REST struct {
	*genericregistry.Store
}

// NewREST returns the storage of clustertrustbundles.
func NewREST(optsGetter generic.RESTOptionsGetter) (*REST, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &certificatesv1.ClusterTrustBundle{} },
		NewListFunc:               func() runtime.Object { return &certificatesv1.ClusterTrustBundleList{} },
		DefaultQualifiedResource:  certificatesv1.Resource("clustertrustbundles"),
		SingularQualifiedResource: certificatesv1.Resource("clustertrustbundle"),

		CreateStrategy: strategy,
		UpdateStrategy: strategy,
		DeleteStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}
