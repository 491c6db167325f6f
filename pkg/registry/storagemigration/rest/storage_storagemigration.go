// Package rest builds the storage of the storagemigration.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/storagemigration/storageversionmigration"
)

// GroupName is the API group this package serves.
const GroupName = "storagemigration.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	svm, err := storageversionmigration.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("storageversionmigrations: %w", err)
	}
	v1["storageversionmigrations"] = svm.Migration
	v1["storageversionmigrations/status"] = svm.Status

	return generic.GroupStorage{"v1": v1}, nil
}
