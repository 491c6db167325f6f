// Package resourceslice serves resource.k8s.io/v1 ResourceSlices.
package resourceslice

import (
	"context"
	"fmt"
	"strings"

	resourcev1 "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/tools/cache"
	resourcevalidation "k8s.io/kubernetes/pkg/apis/resource/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
	"github.com/skiff-project/skiff/pkg/registry/resource/dra"
)

// sliceStrategy validates with upstream's rules, counts spec changes in
// metadata.generation, drops fields of disabled features and warns about
// driver names with capitals.
type sliceStrategy struct {
	generic.Strategy
}

var strategy = sliceStrategy{generic.NewStrategy(false)}

func (sliceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	slice := obj.(*resourcev1.ResourceSlice)
	slice.Generation = 1
	dropDisabledFields(slice, nil)
}

func (sliceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	slice, oldSlice := obj.(*resourcev1.ResourceSlice), old.(*resourcev1.ResourceSlice)
	if !apiequality.Semantic.DeepEqual(oldSlice.Spec, slice.Spec) {
		slice.Generation = oldSlice.Generation + 1
	}
	dropDisabledFields(slice, oldSlice)
}

func (sliceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, resourcevalidation.ValidateResourceSlice)
}

func (sliceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, resourcevalidation.ValidateResourceSliceUpdate)
}

// DeclarativeValidationConfig is upstream's.
func (sliceStrategy) DeclarativeValidationConfig(ctx context.Context, obj, old runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{
		NormalizationRules: resourcevalidation.ResourceNormalizationRules,
		Options: map[string]bool{
			string(dra.PartitionableDevicesType): utilfeature.DefaultFeatureGate.Enabled(dra.PartitionableDevicesType),
		},
	}
}

func (sliceStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return driverNameWarnings(obj.(*resourcev1.ResourceSlice))
}

func (sliceStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return driverNameWarnings(obj.(*resourcev1.ResourceSlice))
}

func driverNameWarnings(slice *resourcev1.ResourceSlice) []string {
	if slice.Spec.Driver == strings.ToLower(slice.Spec.Driver) {
		return nil
	}
	return []string{fmt.Sprintf("spec.driver: driver names should be lowercase; %q contains uppercase characters", slice.Spec.Driver)}
}

// nodeName is the value of the spec.nodeName field selector ("" for slices
// not bound to one node).
func nodeName(slice *resourcev1.ResourceSlice) string {
	if slice.Spec.NodeName == nil {
		return ""
	}
	return *slice.Spec.NodeName
}

// getAttrs adds spec.nodeName, spec.driver and spec.pool.name to the
// selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	slice, ok := obj.(*resourcev1.ResourceSlice)
	if !ok {
		return nil, nil, fmt.Errorf("not a resourceslice: %T", obj)
	}
	return slice.Labels, apigeneric.AddObjectMetaFieldsSet(fields.Set{
		resourcev1.ResourceSliceSelectorNodeName: nodeName(slice),
		resourcev1.ResourceSliceSelectorDriver:   slice.Spec.Driver,
		resourcev1.ResourceSliceSelectorPoolName: slice.Spec.Pool.Name,
	}, &slice.ObjectMeta, false), nil
}

// predicate selects slices by labels and fields. Kubelets watch the slices
// of their node, so the watch cache indexes spec.nodeName.
func predicate(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{
		Label:       label,
		Field:       field,
		GetAttrs:    getAttrs,
		IndexFields: []string{resourcev1.ResourceSliceSelectorNodeName},
	}
}

func nodeNameTrigger(obj runtime.Object) string {
	return nodeName(obj.(*resourcev1.ResourceSlice))
}

func indexers() *cache.Indexers {
	return &cache.Indexers{
		storage.FieldIndex(resourcev1.ResourceSliceSelectorNodeName): func(obj interface{}) ([]string, error) {
			slice, ok := obj.(*resourcev1.ResourceSlice)
			if !ok {
				return nil, fmt.Errorf("not a resourceslice: %T", obj)
			}
			return []string{nodeName(slice)}, nil
		},
	}
}
