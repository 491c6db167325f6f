// Package rest builds the storage of the resource.k8s.io API group.
package rest

import (
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/resource/deviceclass"
	"github.com/skiff-project/skiff/pkg/registry/resource/devicetaintrule"
	"github.com/skiff-project/skiff/pkg/registry/resource/resourceclaim"
	"github.com/skiff-project/skiff/pkg/registry/resource/resourceclaimtemplate"
	"github.com/skiff-project/skiff/pkg/registry/resource/resourceslice"
)

// GroupName is the API group this package serves.
const GroupName = "resource.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	if c.LoopbackClientConfig == nil {
		return nil, fmt.Errorf("%s needs the loopback client to check namespaces for admin access", GroupName)
	}
	client, err := kubernetes.NewForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("loopback client: %w", err)
	}
	namespaces := client.CoreV1().Namespaces()
	v1 := generic.VersionStorage{}

	classes, err := deviceclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("deviceclasses: %w", err)
	}
	v1["deviceclasses"] = classes

	taintRules, err := devicetaintrule.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("devicetaintrules: %w", err)
	}
	v1["devicetaintrules"] = taintRules.DeviceTaintRule
	v1["devicetaintrules/status"] = taintRules.Status

	claims, err := resourceclaim.NewStorage(c.RESTOptionsGetter, namespaces, c.Authorizer)
	if err != nil {
		return nil, fmt.Errorf("resourceclaims: %w", err)
	}
	v1["resourceclaims"] = claims.ResourceClaim
	v1["resourceclaims/status"] = claims.Status

	templates, err := resourceclaimtemplate.NewREST(c.RESTOptionsGetter, namespaces)
	if err != nil {
		return nil, fmt.Errorf("resourceclaimtemplates: %w", err)
	}
	v1["resourceclaimtemplates"] = templates

	slices, err := resourceslice.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("resourceslices: %w", err)
	}
	v1["resourceslices"] = slices

	return generic.GroupStorage{"v1": v1}, nil
}
