// Package clusterrolebinding serves rbac.authorization.k8s.io/v1
// ClusterRoleBindings.
package clusterrolebinding

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// clusterRoleBindingStrategy validates ClusterRoleBindings with upstream's
// rules. Like upstream, a PUT of a missing ClusterRoleBinding creates it.
type clusterRoleBindingStrategy struct {
	generic.Strategy
}

var strategy = clusterRoleBindingStrategy{generic.NewStrategy(false)}

func (clusterRoleBindingStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (clusterRoleBindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, rbacvalidation.ValidateClusterRoleBinding)
}

func (clusterRoleBindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, rbacvalidation.ValidateClusterRoleBindingUpdate)
}

// DeclarativeValidationConfig is upstream's: declarative errors that the
// handwritten validation also reports are not repeated.
func (clusterRoleBindingStrategy) DeclarativeValidationConfig(ctx context.Context, obj, old runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{ShortCircuitMismatch: true}
}
