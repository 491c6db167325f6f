// Package rest builds the storage of the node.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/node/runtimeclass"
)

// GroupName is the API group this package serves.
const GroupName = "node.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	rc, err := runtimeclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("runtimeclasses: %w", err)
	}
	v1["runtimeclasses"] = rc

	return generic.GroupStorage{"v1": v1}, nil
}
