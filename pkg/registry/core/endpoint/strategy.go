// Package endpoint serves core/v1 Endpoints.
package endpoint

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// managedByLabel and endpointsController mark the Endpoints upstream's
	// endpoints controller writes; they get no IP warnings.
	managedByLabel      = "endpoints.kubernetes.io/managed-by"
	endpointsController = "endpoint-controller"
)

// endpointsStrategy validates Endpoints with upstream's rules. PUT may
// create them, as upstream.
type endpointsStrategy struct {
	generic.Strategy
}

var strategy = endpointsStrategy{generic.NewStrategy(true)}

func (endpointsStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (endpointsStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateEndpointsCreate)
}

func (endpointsStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateEndpointsUpdate)
}

func (endpointsStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return endpointsWarnings(obj.(*corev1.Endpoints))
}

func (endpointsStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return endpointsWarnings(obj.(*corev1.Endpoints))
}

// endpointsWarnings warns about addresses in non-canonical form, except in
// the endpoints controller's objects.
func endpointsWarnings(ep *corev1.Endpoints) []string {
	if ep.Labels[managedByLabel] == endpointsController {
		return nil
	}
	var warnings []string
	for i, subset := range ep.Subsets {
		path := field.NewPath("subsets").Index(i)
		for j, addr := range subset.Addresses {
			warnings = append(warnings, utilvalidation.GetWarningsForIP(path.Child("addresses").Index(j).Child("ip"), addr.IP)...)
		}
		for j, addr := range subset.NotReadyAddresses {
			warnings = append(warnings, utilvalidation.GetWarningsForIP(path.Child("notReadyAddresses").Index(j).Child("ip"), addr.IP)...)
		}
	}
	return warnings
}
