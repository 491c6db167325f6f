// Package rest builds the storage of the certificates.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/certificates/certificatesigningrequest"
	"github.com/skiff-project/skiff/pkg/registry/certificates/clustertrustbundle"
	"github.com/skiff-project/skiff/pkg/registry/certificates/podcertificaterequest"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "certificates.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	csr, err := certificatesigningrequest.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("certificatesigningrequests: %w", err)
	}
	v1["certificatesigningrequests"] = csr.CSR
	v1["certificatesigningrequests/status"] = csr.Status
	v1["certificatesigningrequests/approval"] = csr.Approval

	bundles, err := clustertrustbundle.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("clustertrustbundles: %w", err)
	}
	v1["clustertrustbundles"] = bundles

	pcr, err := podcertificaterequest.NewStorage(c.RESTOptionsGetter, c.Authorizer)
	if err != nil {
		return nil, fmt.Errorf("podcertificaterequests: %w", err)
	}
	v1["podcertificaterequests"] = pcr.PodCertificateRequest
	v1["podcertificaterequests/status"] = pcr.Status

	return generic.GroupStorage{"v1": v1}, nil
}
