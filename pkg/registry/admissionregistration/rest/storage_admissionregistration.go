// Package rest builds the storage of the admissionregistration.k8s.io API group.
package rest

import (
	"fmt"

	"k8s.io/client-go/discovery"

	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/mutatingadmissionpolicy"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/mutatingadmissionpolicybinding"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/mutatingwebhookconfiguration"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/policyauthz"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/validatingadmissionpolicy"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/validatingadmissionpolicybinding"
	"github.com/skiff-project/skiff/pkg/registry/admissionregistration/validatingwebhookconfiguration"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "admissionregistration.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	if c.LoopbackClientConfig == nil {
		return nil, fmt.Errorf("%s needs the loopback client to resolve policy parameter kinds", GroupName)
	}
	// Parameter kinds may be custom resources: resolve them through discovery.
	disco, err := discovery.NewDiscoveryClientForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	resolver := policyauthz.NewDiscoveryResolver(disco)
	v1 := generic.VersionStorage{}

	vwc, err := validatingwebhookconfiguration.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("validatingwebhookconfigurations: %w", err)
	}
	v1["validatingwebhookconfigurations"] = vwc

	mwc, err := mutatingwebhookconfiguration.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("mutatingwebhookconfigurations: %w", err)
	}
	v1["mutatingwebhookconfigurations"] = mwc

	vap, err := validatingadmissionpolicy.NewStorage(c.RESTOptionsGetter, c.Authorizer, resolver)
	if err != nil {
		return nil, fmt.Errorf("validatingadmissionpolicies: %w", err)
	}
	v1["validatingadmissionpolicies"] = vap.Policy
	v1["validatingadmissionpolicies/status"] = vap.Status

	vapb, err := validatingadmissionpolicybinding.NewREST(c.RESTOptionsGetter, c.Authorizer, vap.Policy, resolver)
	if err != nil {
		return nil, fmt.Errorf("validatingadmissionpolicybindings: %w", err)
	}
	v1["validatingadmissionpolicybindings"] = vapb

	mutatingPolicies, err := mutatingadmissionpolicy.NewREST(c.RESTOptionsGetter, c.Authorizer, resolver)
	if err != nil {
		return nil, fmt.Errorf("mutatingadmissionpolicies: %w", err)
	}
	v1["mutatingadmissionpolicies"] = mutatingPolicies

	mapb, err := mutatingadmissionpolicybinding.NewREST(c.RESTOptionsGetter, c.Authorizer, mutatingPolicies, resolver)
	if err != nil {
		return nil, fmt.Errorf("mutatingadmissionpolicybindings: %w", err)
	}
	v1["mutatingadmissionpolicybindings"] = mapb

	return generic.GroupStorage{"v1": v1}, nil
}
