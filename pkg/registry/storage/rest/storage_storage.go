// Package rest builds the storage of the storage.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/storage/csidriver"
	"github.com/skiff-project/skiff/pkg/registry/storage/csinode"
	"github.com/skiff-project/skiff/pkg/registry/storage/csistoragecapacity"
	"github.com/skiff-project/skiff/pkg/registry/storage/storageclass"
	"github.com/skiff-project/skiff/pkg/registry/storage/volumeattachment"
	"github.com/skiff-project/skiff/pkg/registry/storage/volumeattributesclass"
)

// GroupName is the API group this package serves.
const GroupName = "storage.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	sc, err := storageclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("storageclasses: %w", err)
	}
	v1["storageclasses"] = sc

	va, err := volumeattachment.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("volumeattachments: %w", err)
	}
	v1["volumeattachments"] = va.VolumeAttachment
	v1["volumeattachments/status"] = va.Status

	vac, err := volumeattributesclass.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("volumeattributesclasses: %w", err)
	}
	v1["volumeattributesclasses"] = vac

	nodes, err := csinode.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("csinodes: %w", err)
	}
	v1["csinodes"] = nodes.CSINode
	v1["csinodes/status"] = nodes.Status

	drivers, err := csidriver.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("csidrivers: %w", err)
	}
	v1["csidrivers"] = drivers

	capacities, err := csistoragecapacity.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("csistoragecapacities: %w", err)
	}
	v1["csistoragecapacities"] = capacities

	return generic.GroupStorage{"v1": v1}, nil
}
