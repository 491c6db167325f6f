// Package rest builds the storage of the autoscaling API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/autoscaling/horizontalpodautoscaler"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "autoscaling"

// NewStorage returns the storage of every resource of the group, by version
// and resource path. autoscaling/v2 and autoscaling/v1 share one storage.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	hpa, err := horizontalpodautoscaler.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("horizontalpodautoscalers: %w", err)
	}
	storage := generic.GroupStorage{}
	for _, version := range []string{"v2", "v1"} {
		storage[version] = generic.VersionStorage{
			"horizontalpodautoscalers":        hpa.Autoscaler,
			"horizontalpodautoscalers/status": hpa.Status,
		}
	}
	return storage, nil
}
