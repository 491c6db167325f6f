// Package rest builds the storage of the events.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/events/event"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "events.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	events, err := event.NewREST(c.RESTOptionsGetter, c.EventTTL)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	v1["events"] = events

	return generic.GroupStorage{"v1": v1}, nil
}
