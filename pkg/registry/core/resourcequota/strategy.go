// Package resourcequota serves core/v1 ResourceQuotas and their status,
// which the resource quota controller writes.
package resourcequota

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

type resourceQuotaStrategy struct {
	generic.Strategy
}

var strategy = resourceQuotaStrategy{generic.NewStrategy(true)}

func (resourceQuotaStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

// PrepareForCreate clears the status: usage is the controller's to report.
func (resourceQuotaStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{}
}

// PrepareForUpdate keeps the status.
func (resourceQuotaStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = old.(*corev1.ResourceQuota).Status
}

func (resourceQuotaStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateResourceQuota)
}

func (resourceQuotaStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateResourceQuotaUpdate)
}

// requestLimitResources are the resources whose request and limit quotas
// are compared on create.
var requestLimitResources = []corev1.ResourceName{
	corev1.ResourceCPU,
	corev1.ResourceMemory,
	corev1.ResourceStorage,
	corev1.ResourceEphemeralStorage,
}

// WarningsOnCreate warns when a request quota exceeds the matching limit
// quota: pods could never use the full request.
func (resourceQuotaStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	hard := obj.(*corev1.ResourceQuota).Spec.Hard
	var warnings []string
	for _, name := range requestLimitResources {
		requestName := corev1.ResourceName("requests." + string(name))
		request, hasRequest := hard[requestName]
		// cpu and memory are shorthands for requests.cpu and requests.memory.
		if !hasRequest && (name == corev1.ResourceCPU || name == corev1.ResourceMemory) {
			if request, hasRequest = hard[name]; hasRequest {
				requestName = name
			}
		}
		limitName := corev1.ResourceName("limits." + string(name))
		limit, hasLimit := hard[limitName]
		if hasRequest && hasLimit && request.Cmp(limit) > 0 {
			warnings = append(warnings, fmt.Sprintf("ResourceQuota %s (%s) should be less than %s (%s)",
				requestName, request.String(), limitName, limit.String()))
		}
	}
	return warnings
}

// resourceQuotaStatusStrategy is the behaviour of resourcequotas/status.
type resourceQuotaStatusStrategy struct {
	resourceQuotaStrategy
}

var statusStrategy = resourceQuotaStatusStrategy{strategy}

func (resourceQuotaStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

// PrepareForUpdate keeps the spec.
func (resourceQuotaStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.ResourceQuota).Spec = old.(*corev1.ResourceQuota).Spec
}

func (resourceQuotaStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateResourceQuotaStatusUpdate)
}

func (resourceQuotaStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
