// Package rest builds the storage of the discovery.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/discovery/endpointslice"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "discovery.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	slices, err := endpointslice.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("endpointslices: %w", err)
	}
	v1["endpointslices"] = slices

	return generic.GroupStorage{"v1": v1}, nil
}
