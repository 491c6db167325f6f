// Package rest builds the storage of the core ("legacy", /api/v1) group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/core/configmap"
	"github.com/skiff-project/skiff/pkg/registry/core/namespace"
	"github.com/skiff-project/skiff/pkg/registry/core/service"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the core group's name: empty.
const GroupName = ""

// NewStorage returns the storage of every core/v1 resource by path
// ("pods", "pods/status", ...).
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	cm, err := configmap.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("configmaps: %w", err)
	}
	v1["configmaps"] = cm

	ns, err := namespace.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	v1["namespaces"] = ns.Namespace
	v1["namespaces/status"] = ns.Status
	v1["namespaces/finalize"] = ns.Finalize

	// Services allocate ClusterIPs and NodePorts; their repair loops start
	// in the services storage's post-start hook (service.REST.PostStartHook).
	svc, err := service.NewStorage(c)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	v1["services"] = svc.Service
	v1["services/status"] = svc.Status
	v1["services/proxy"] = svc.Proxy

	return generic.GroupStorage{"v1": v1}, nil
}
