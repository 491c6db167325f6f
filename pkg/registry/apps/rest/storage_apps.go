// Package rest builds the storage of the apps API group.
package rest

import (
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "apps"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	storage := generic.GroupStorage{}
	return storage, nil
}
