// Package rest builds the storage of the rbac.authorization.k8s.io API group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/rbac"
	"github.com/skiff-project/skiff/pkg/registry/rbac/clusterrole"
	"github.com/skiff-project/skiff/pkg/registry/rbac/clusterrolebinding"
	"github.com/skiff-project/skiff/pkg/registry/rbac/role"
	"github.com/skiff-project/skiff/pkg/registry/rbac/rolebinding"
)

// GroupName is the API group this package serves.
const GroupName = "rbac.authorization.k8s.io"

// NewStorage returns the storage of every resource of the group, by version
// and resource path.
// Writes that would escalate privileges are refused (rbac.Policy) when the
// config carries the RBAC role resolver.
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}
	var checker rbac.EscalationChecker
	if c.RBACRoleResolver != nil {
		checker = rbac.Policy{Authorizer: c.Authorizer, Resolver: c.RBACRoleResolver}
	}

	roles, err := role.NewREST(c.RESTOptionsGetter, checker)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	v1["roles"] = roles

	roleBindings, err := rolebinding.NewREST(c.RESTOptionsGetter, checker)
	if err != nil {
		return nil, fmt.Errorf("rolebindings: %w", err)
	}
	v1["rolebindings"] = roleBindings

	clusterRoles, err := clusterrole.NewREST(c.RESTOptionsGetter, checker)
	if err != nil {
		return nil, fmt.Errorf("clusterroles: %w", err)
	}
	v1["clusterroles"] = clusterRoles

	clusterRoleBindings, err := clusterrolebinding.NewREST(c.RESTOptionsGetter, checker)
	if err != nil {
		return nil, fmt.Errorf("clusterrolebindings: %w", err)
	}
	v1["clusterrolebindings"] = clusterRoleBindings

	return generic.GroupStorage{"v1": v1}, nil
}
