package role

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/registry/rbac"
)

// NewREST returns the storage of roles; writes go through checker (nil: no
// escalation check).
func NewREST(optsGetter generic.RESTOptionsGetter, checker rbac.EscalationChecker) (*rbac.GuardedStore, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &rbacv1.Role{} },
		NewListFunc:               func() runtime.Object { return &rbacv1.RoleList{} },
		DefaultQualifiedResource:  rbacv1.Resource("roles"),
		SingularQualifiedResource: rbacv1.Resource("role"),

		CreateStrategy: strategy,
		UpdateStrategy: strategy,
		DeleteStrategy: strategy,

		// Upstream prints roles with the default columns (name, created at).
		TableConvertor: rest.NewDefaultTableConvertor(rbacv1.Resource("roles")),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return rbac.Guard(store, checker), nil
}
