// Package rest builds the storage of the apps API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/apps/controllerrevision"
	"github.com/skiff-project/skiff/pkg/registry/apps/daemonset"
	"github.com/skiff-project/skiff/pkg/registry/apps/deployment"
	"github.com/skiff-project/skiff/pkg/registry/apps/replicaset"
	"github.com/skiff-project/skiff/pkg/registry/apps/statefulset"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the API group this package serves.
const GroupName = "apps"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	deployments, err := deployment.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("deployments: %w", err)
	}
	v1["deployments"] = deployments.Deployment
	v1["deployments/status"] = deployments.Status
	v1["deployments/scale"] = deployments.Scale

	statefulSets, err := statefulset.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("statefulsets: %w", err)
	}
	v1["statefulsets"] = statefulSets.StatefulSet
	v1["statefulsets/status"] = statefulSets.Status
	v1["statefulsets/scale"] = statefulSets.Scale

	daemonSets, err := daemonset.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("daemonsets: %w", err)
	}
	v1["daemonsets"] = daemonSets.DaemonSet
	v1["daemonsets/status"] = daemonSets.Status

	replicaSets, err := replicaset.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("replicasets: %w", err)
	}
	v1["replicasets"] = replicaSets.ReplicaSet
	v1["replicasets/status"] = replicaSets.Status
	v1["replicasets/scale"] = replicaSets.Scale

	revisions, err := controllerrevision.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("controllerrevisions: %w", err)
	}
	v1["controllerrevisions"] = revisions

	return generic.GroupStorage{"v1": v1}, nil
}
