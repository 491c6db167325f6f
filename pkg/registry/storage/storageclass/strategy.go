// Package storageclass serves storage.k8s.io/v1 StorageClasses.
package storageclass

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	storageapi "k8s.io/kubernetes/pkg/api/storage"
	"k8s.io/kubernetes/pkg/apis/storage"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// storageClassStrategy validates StorageClasses with upstream's rules:
// provisioner, parameters, reclaimPolicy and volumeBindingMode are
// immutable.
type storageClassStrategy struct {
	generic.Strategy
}

var strategy = storageClassStrategy{generic.NewStrategy(false)}

func (storageClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, storagevalidation.ValidateStorageClass)
}

func (storageClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(sc, oldSC *storage.StorageClass) field.ErrorList {
		return append(storagevalidation.ValidateStorageClass(sc), storagevalidation.ValidateStorageClassUpdate(sc, oldSC)...)
	})
}

func (storageClassStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj)
}

func (storageClassStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj)
}

// warnings reports deprecated node labels in allowedTopologies.
func warnings(obj runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		klog.ErrorS(err, "StorageClass warnings skipped")
		return nil
	}
	return storageapi.GetWarningsForStorageClass(in.(*storage.StorageClass))
}
