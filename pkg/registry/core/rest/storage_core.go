// Package rest builds the storage of the core ("legacy", /api/v1) group.
package rest

import (
	"fmt"

	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/registry/core/configmap"
	"github.com/skiff-project/skiff/pkg/registry/core/namespace"
)

// Config is what the core group's storage needs besides etcd.
type Config struct {
	RESTOptionsGetter generic.RESTOptionsGetter
}

// NewStorage returns the storage of every core/v1 resource by path
// ("pods", "pods/status", ...).
func NewStorage(c Config) (map[string]rest.Storage, error) {
	storage := map[string]rest.Storage{}

	cm, err := configmap.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("configmaps: %w", err)
	}
	storage["configmaps"] = cm

	ns, err := namespace.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	storage["namespaces"] = ns.Namespace
	storage["namespaces/status"] = ns.Status
	storage["namespaces/finalize"] = ns.Finalize

	return storage, nil
}
