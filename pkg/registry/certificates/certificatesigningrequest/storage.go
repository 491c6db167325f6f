package certificatesigningrequest

import (
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// REST is the storage of certificatesigningrequests.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames are the short names kubectl accepts: csr.
func (r *REST) ShortNames() []string { return []string{"csr"} }

// Storage holds certificatesigningrequests and their subresources.
type Storage struct {
	CSR      *REST
	Status   *generic.StatusREST
	Approval *generic.StatusREST
}

// NewStorage returns the storage of certificatesigningrequests.
func NewStorage(optsGetter apigeneric.RESTOptionsGetter) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewListFunc:               func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		DefaultQualifiedResource:  certificatesv1.Resource("certificatesigningrequests"),
		SingularQualifiedResource: certificatesv1.Resource("certificatesigningrequest"),

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
		CSR:      &REST{store},
		Status:   generic.NewStatusREST(store, statusStrategy),
		Approval: generic.NewStatusREST(store, approvalStrategy),
	}, nil
}
