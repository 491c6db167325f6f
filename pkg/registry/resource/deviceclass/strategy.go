// Package deviceclass serves resource.k8s.io/v1 DeviceClasses.
package deviceclass

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// deviceClassStrategy validates with upstream's rules, counts spec changes
// in metadata.generation and drops fields of disabled features.
type deviceClassStrategy struct {
	generic.Strategy
}

var strategy = deviceClassStrategy{generic.NewStrategy(false)}

func (deviceClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	class := obj.(*resourcev1.DeviceClass)
	class.Generation = 1
	dropDisabledFields(class, nil)
}

func (deviceClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	class, oldClass := obj.(*resourcev1.DeviceClass), old.(*resourcev1.DeviceClass)
	dropDisabledFields(class, oldClass)
	if !apiequality.Semantic.DeepEqual(oldClass.Spec, class.Spec) {
		class.Generation = oldClass.Generation + 1
	}
}

func (deviceClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, resourcevalidation.ValidateDeviceClass)
}

func (deviceClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, resourcevalidation.ValidateDeviceClassUpdate)
}

// dropDisabledFields clears spec.extendedResourceName while DRAExtendedResource
// is off, unless the stored class already uses it.
func dropDisabledFields(class, old *resourcev1.DeviceClass) {
	if utilfeature.DefaultFeatureGate.Enabled(dra.ExtendedResource) {
		return
	}
	if old != nil && old.Spec.ExtendedResourceName != nil {
		return
	}
	class.Spec.ExtendedResourceName = nil
}
