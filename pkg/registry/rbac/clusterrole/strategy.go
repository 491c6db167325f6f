// Package clusterrole serves rbac.authorization.k8s.io/v1 ClusterRoles.
package clusterrole

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/rbac"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// clusterRoleStrategy validates ClusterRoles with upstream's rules. Like
// upstream, a PUT of a missing ClusterRole creates it.
type clusterRoleStrategy struct {
	generic.Strategy
}

var strategy = clusterRoleStrategy{generic.NewStrategy(false)}

func (clusterRoleStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (clusterRoleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(role *rbac.ClusterRole) field.ErrorList {
		return rbacvalidation.ValidateClusterRole(role, rbacvalidation.ClusterRoleValidationOptions{})
	})
}

// ValidateUpdate keeps accepting aggregation selectors with label values
// that were valid when the object was stored, as upstream does.
func (clusterRoleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	opts := rbacvalidation.ClusterRoleValidationOptions{
		AllowInvalidLabelValueInSelector: hasInvalidAggregationSelector(old.(*rbacv1.ClusterRole)),
	}
	return generic.ValidateUpdate(obj, old, func(role, oldRole *rbac.ClusterRole) field.ErrorList {
		return rbacvalidation.ValidateClusterRoleUpdate(role, oldRole, opts)
	})
}

func hasInvalidAggregationSelector(role *rbacv1.ClusterRole) bool {
	if role.AggregationRule == nil {
		return false
	}
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		if len(metav1validation.ValidateLabelSelector(&role.AggregationRule.ClusterRoleSelectors[i], opts, nil)) > 0 {
			return true
		}
	}
	return false
}
