// Package rest builds the storage of the scheduling.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/scheduling/priorityclass"
)

// GroupName is the API group this package serves.
const GroupName = "scheduling.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	pc, err := priorityclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("priorityclasses: %w", err)
	}
	v1["priorityclasses"] = pc

	return generic.GroupStorage{"v1": v1}, nil
}
