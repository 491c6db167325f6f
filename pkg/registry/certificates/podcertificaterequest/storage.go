package podcertificaterequest

import (
	"errors"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of podcertificaterequests.
type REST struct {
	*genericregistry.Store
}

// Storage holds podcertificaterequests and their status.
type Storage struct {
	PodCertificateRequest *REST
	Status                *generic.StatusREST
}

// NewStorage returns the storage of podcertificaterequests. authz decides
// who may sign (write the status of) a request.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter, authz authorizer.UnconditionalAuthorizer) (*Storage, error) {
	if authz == nil {
		return nil, errors.New("podcertificaterequests need an authorizer")
	}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &certificatesv1.PodCertificateRequest{} },
		NewListFunc:               func() runtime.Object { return &certificatesv1.PodCertificateRequestList{} },
		DefaultQualifiedResource:  certificatesv1.Resource("podcertificaterequests"),
		SingularQualifiedResource: certificatesv1.Resource("podcertificaterequest"),

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
		PodCertificateRequest: &REST{store},
		Status:                generic.NewStatusREST(store, newStatusStrategy(authz, clock.RealClock{})),
	}, nil
}
