// Package priorityclass serves scheduling.k8s.io/v1 PriorityClasses.
//
// Names starting with "system-" are reserved: only the two built-in classes
// (system-node-critical and system-cluster-critical, with their fixed values)
// may be created, and those can never be deleted. SystemPriorityClasses
// returns them for the server to create at startup.
package priorityclass

import (
	"context"

	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	schedulingapiv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	schedulingvalidation "k8s.io/kubernetes/pkg/apis/scheduling/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// SystemPriorityClasses returns new copies of the built-in priority classes
// every cluster has (upstream's names, values and descriptions).
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	return schedulingapiv1.SystemPriorityClasses()
}

// isSystemPriorityClass reports whether name is one of the built-in classes.
func isSystemPriorityClass(name string) bool {
	for _, n := range schedulingapiv1.SystemPriorityClassNames() {
		if n == name {
			return true
		}
	}
	return false
}

// priorityClassStrategy validates PriorityClasses with upstream's rules,
// which include the reserved "system-" prefix and the immutable value.
type priorityClassStrategy struct {
	generic.Strategy
}

var strategy = priorityClassStrategy{generic.NewStrategy(false)}

func (priorityClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*schedulingv1.PriorityClass).Generation = 1
}

func (priorityClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, schedulingvalidation.ValidatePriorityClass)
}

func (priorityClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, schedulingvalidation.ValidatePriorityClassUpdate)
}
