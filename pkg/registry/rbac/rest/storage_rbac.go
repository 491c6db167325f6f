// Package rest builds the storage of the rbac.authorization.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/rbac/clusterrole"
	"github.com/skiff-project/skiff/pkg/registry/rbac/clusterrolebinding"
	"github.com/skiff-project/skiff/pkg/registry/rbac/role"
	"github.com/skiff-project/skiff/pkg/registry/rbac/rolebinding"
)

// GroupName is the API group this package serves.
const GroupName = "rbac.authorization.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
//
// Upstream refuses writes that escalate privileges; that check needs the RBAC
// authorizer's rule resolver, which skiff does not have yet, so the storages
// are built without an rbac.EscalationChecker for now.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	roles, err := role.NewREST(c.RESTOptionsGetter, nil)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	v1["roles"] = roles

	roleBindings, err := rolebinding.NewREST(c.RESTOptionsGetter, nil)
	if err != nil {
		return nil, fmt.Errorf("rolebindings: %w", err)
	}
	v1["rolebindings"] = roleBindings

	clusterRoles, err := clusterrole.NewREST(c.RESTOptionsGetter, nil)
	if err != nil {
		return nil, fmt.Errorf("clusterroles: %w", err)
	}
	v1["clusterroles"] = clusterRoles

	clusterRoleBindings, err := clusterrolebinding.NewREST(c.RESTOptionsGetter, nil)
	if err != nil {
		return nil, fmt.Errorf("clusterrolebindings: %w", err)
	}
	v1["clusterrolebindings"] = clusterRoleBindings

	return generic.GroupStorage{"v1": v1}, nil
}
