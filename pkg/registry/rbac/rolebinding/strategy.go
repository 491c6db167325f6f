// Package rolebinding serves rbac.authorization.k8s.io/v1 RoleBindings.
package rolebinding

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// roleBindingStrategy validates RoleBindings with upstream's rules. Like
// upstream, a PUT of a missing RoleBinding creates it.
type roleBindingStrategy struct {
	generic.Strategy
}

var strategy = roleBindingStrategy{generic.NewStrategy(true)}

func (roleBindingStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (roleBindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, rbacvalidation.ValidateRoleBinding)
}

func (roleBindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, rbacvalidation.ValidateRoleBindingUpdate)
}

// DeclarativeValidationConfig is upstream's: declarative errors that the
// handwritten validation also reports are not repeated.
func (roleBindingStrategy) DeclarativeValidationConfig(ctx context.Context, obj, old runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{ShortCircuitMismatch: true}
}
