// Package role serves rbac.authorization.k8s.io/v1 Roles.
package role

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// roleStrategy validates Roles with upstream's rules. Like upstream, a PUT
// of a missing Role creates it.
type roleStrategy struct {
	generic.Strategy
}

var strategy = roleStrategy{generic.NewStrategy(true)}

func (roleStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (roleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, rbacvalidation.ValidateRole)
}

func (roleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, rbacvalidation.ValidateRoleUpdate)
}
