// Package rest builds the storage of the networking.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/networking/ingress"
	"github.com/skiff-project/skiff/pkg/registry/networking/ingressclass"
	"github.com/skiff-project/skiff/pkg/registry/networking/ipaddress"
	"github.com/skiff-project/skiff/pkg/registry/networking/networkpolicy"
	"github.com/skiff-project/skiff/pkg/registry/networking/servicecidr"
)

// GroupName is the API group this package serves.
const GroupName = "networking.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	// networkpolicies
	netpol, err := networkpolicy.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("networkpolicies: %w", err)
	}
	v1["networkpolicies"] = netpol

	// ingresses
	ing, err := ingress.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("ingresses: %w", err)
	}
	v1["ingresses"] = ing.Ingress
	v1["ingresses/status"] = ing.Status

	// ingressclasses
	ingClass, err := ingressclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("ingressclasses: %w", err)
	}
	v1["ingressclasses"] = ingClass

	// ipaddresses and servicecidrs: Service ClusterIP allocation. The
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

	return generic.GroupStorage{"v1": v1}, nil
}
