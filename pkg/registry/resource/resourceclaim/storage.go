package resourceclaim

import (
	"errors"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of resourceclaims.
type REST struct {
	*genericregistry.Store
}

// Storage holds resourceclaims and their status.
type Storage struct {
	ResourceClaim *REST
	Status        *generic.StatusREST
}

// NewStorage returns the storage of resourceclaims. namespaces is read to
// check admin access; authz to check who may write the status.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter, namespaces corev1client.NamespaceInterface, authz authorizer.UnconditionalAuthorizer) (*Storage, error) {
	if namespaces == nil || authz == nil {
		return nil, errors.New("resourceclaims need a namespace client and an authorizer")
	}
	strategy := newStrategy(namespaces, authz)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resourcev1.ResourceClaim{} },
		NewListFunc:               func() runtime.Object { return &resourcev1.ResourceClaimList{} },
		DefaultQualifiedResource:  resourcev1.Resource("resourceclaims"),
		SingularQualifiedResource: resourcev1.Resource("resourceclaim"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &Storage{ResourceClaim: &REST{store}, Status: generic.NewStatusREST(store, claimStatusStrategy{strategy})}, nil
}
