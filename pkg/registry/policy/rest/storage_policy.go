// Package rest builds the storage of the policy API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/policy/poddisruptionbudget"
)

// GroupName is the API group this package serves.
const GroupName = "policy"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	pdbs, err := poddisruptionbudget.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("poddisruptionbudgets: %w", err)
	}
	return generic.GroupStorage{"v1": generic.VersionStorage{
		"poddisruptionbudgets":        pdbs.PodDisruptionBudget,
		"poddisruptionbudgets/status": pdbs.Status,
	}}, nil
}
