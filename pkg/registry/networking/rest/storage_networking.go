// Package rest builds the storage of the networking.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/networking/ipaddress"
	"github.com/skiff-project/skiff/pkg/registry/networking/servicecidr"
)

// GroupName is the API group this package serves.
const GroupName = "networking.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	storage := generic.GroupStorage{}
	v1 := generic.VersionStorage{}

	// Service ClusterIP allocation: IPAddresses and ServiceCIDRs. The
	// servicecidrs storage's post-start hook keeps the default ServiceCIDR.
	ip, err := ipaddress.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("ipaddresses: %w", err)
	}
	v1["ipaddresses"] = ip
	cidrs, err := servicecidr.NewStorage(c)
	if err != nil {
		return nil, fmt.Errorf("servicecidrs: %w", err)
	}
	v1["servicecidrs"] = cidrs.ServiceCIDR
	v1["servicecidrs/status"] = cidrs.Status

	if len(v1) > 0 {
		storage["v1"] = v1
	}
	return storage, nil
}
