// Package rest builds the storage of the flowcontrol.apiserver.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/flowcontrol/flowschema"
	"github.com/skiff-project/skiff/pkg/registry/flowcontrol/prioritylevelconfiguration"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "flowcontrol.apiserver.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path. The bootstrap objects are kept by package ensurer.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	fs, err := flowschema.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("flowschemas: %w", err)
	}
	v1["flowschemas"] = fs.FlowSchema
	v1["flowschemas/status"] = fs.Status

	pl, err := prioritylevelconfiguration.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("prioritylevelconfigurations: %w", err)
	}
	v1["prioritylevelconfigurations"] = pl.PriorityLevelConfiguration
	v1["prioritylevelconfigurations/status"] = pl.Status

	return generic.GroupStorage{"v1": v1}, nil
}
