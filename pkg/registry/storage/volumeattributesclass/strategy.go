// Package volumeattributesclass serves storage.k8s.io/v1
// VolumeAttributesClasses.
package volumeattributesclass

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// volumeAttributesClassStrategy validates VolumeAttributesClasses with
// upstream's rules: driverName and parameters are immutable.
type volumeAttributesClassStrategy struct {
	generic.Strategy
}

var strategy = volumeAttributesClassStrategy{generic.NewStrategy(false)}

func (volumeAttributesClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, storagevalidation.ValidateVolumeAttributesClass)
}

func (volumeAttributesClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, storagevalidation.ValidateVolumeAttributesClassUpdate)
}
