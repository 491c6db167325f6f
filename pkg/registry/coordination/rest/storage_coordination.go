// Package rest builds the storage of the coordination.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/coordination/lease"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "coordination.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	leases, err := lease.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	v1["leases"] = leases

	return generic.GroupStorage{"v1": v1}, nil
}
