// Package csistoragecapacity serves storage.k8s.io/v1 CSIStorageCapacities.
package csistoragecapacity

import (
	"context"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	storageapi "k8s.io/kubernetes/pkg/api/storage"
	"k8s.io/kubernetes/pkg/apis/storage"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// csiStorageCapacityStrategy validates CSIStorageCapacities with upstream's
// rules.
type csiStorageCapacityStrategy struct {
	generic.Strategy
}

var strategy = csiStorageCapacityStrategy{generic.NewStrategy(true)}

func (csiStorageCapacityStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (csiStorageCapacityStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(c *storage.CSIStorageCapacity) field.ErrorList {
		return storagevalidation.ValidateCSIStorageCapacity(c, storagevalidation.CSIStorageCapacityValidateOptions{})
	})
}

// ValidateUpdate tolerates an invalid label value in nodeTopology when the
// stored object already had one (older servers accepted it).
func (csiStorageCapacityStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(c, oldC *storage.CSIStorageCapacity) field.ErrorList {
		opts := storagevalidation.CSIStorageCapacityValidateOptions{
			AllowInvalidLabelValueInSelector: hasInvalidLabelValueInSelector(oldC),
		}
		return append(storagevalidation.ValidateCSIStorageCapacity(c, opts), storagevalidation.ValidateCSIStorageCapacityUpdate(c, oldC)...)
	})
}

func hasInvalidLabelValueInSelector(c *storage.CSIStorageCapacity) bool {
	opts := metav1validation.LabelSelectorValidationOptions{AllowInvalidLabelValueInSelector: false}
	return len(metav1validation.ValidateLabelSelector(c.NodeTopology, opts, nil)) > 0
}

func (csiStorageCapacityStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj)
}

func (csiStorageCapacityStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj)
}

// warnings reports deprecated node labels in nodeTopology.
func warnings(obj runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		klog.ErrorS(err, "CSIStorageCapacity warnings skipped")
		return nil
	}
	return storageapi.GetWarningsForCSIStorageCapacity(in.(*storage.CSIStorageCapacity))
}
