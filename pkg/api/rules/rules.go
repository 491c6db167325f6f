package rules

import (
	"fmt"

	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubernetes/pkg/api/legacyscheme"

	// Each install package registers its group into legacyscheme.Scheme.
	_ "k8s.io/kubernetes/pkg/apis/admissionregistration/install"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/authentication/install"
	_ "k8s.io/kubernetes/pkg/apis/authorization/install"
	_ "k8s.io/kubernetes/pkg/apis/autoscaling/install"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/certificates/install"
	_ "k8s.io/kubernetes/pkg/apis/coordination/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/discovery/install"
	_ "k8s.io/kubernetes/pkg/apis/events/install"
	_ "k8s.io/kubernetes/pkg/apis/flowcontrol/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	_ "k8s.io/kubernetes/pkg/apis/node/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	_ "k8s.io/kubernetes/pkg/apis/resource/install"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install"
	_ "k8s.io/kubernetes/pkg/apis/storage/install"
	_ "k8s.io/kubernetes/pkg/apis/storagemigration/install"
)

// upstreamScheme is upstream's scheme with its internal types and every
// version's conversions. It is read-only after init.
var upstreamScheme = legacyscheme.Scheme

// ToInternal converts a k8s.io/api struct into upstream's internal type for
// the same kind. The input is not modified.
func ToInternal(obj runtime.Object) (runtime.Object, error) {
	gvk, err := versionedKind(obj)
	if err != nil {
		return nil, err
	}
	out, err := upstreamScheme.New(gvk.GroupKind().WithVersion(runtime.APIVersionInternal))
	if err != nil {
		return nil, err
	}
	if err := upstreamScheme.Convert(obj, out, nil); err != nil {
		return nil, fmt.Errorf("convert %s to upstream's internal type: %w", gvk, err)
	}
	return out, nil
}

// FromInternal converts upstream's internal object into out, a k8s.io/api
// struct.
func FromInternal(in, out runtime.Object) error {
	if err := upstreamScheme.Convert(in, out, nil); err != nil {
		return fmt.Errorf("convert %T from upstream's internal type: %w", out, err)
	}
	return nil
}

// ConvertVersioned converts between two k8s.io/api structs of one kind in
// different versions (or groups, for events) through upstream's internal type.
// Its signature fits runtime.Scheme.AddConversionFunc.
func ConvertVersioned(a, b interface{}, _ conversion.Scope) error {
	in, ok := a.(runtime.Object)
	if !ok {
		return fmt.Errorf("convert %T: not a runtime.Object", a)
	}
	out, ok := b.(runtime.Object)
	if !ok {
		return fmt.Errorf("convert to %T: not a runtime.Object", b)
	}
	internal, err := ToInternal(in)
	if err != nil {
		return err
	}
	return FromInternal(internal, out)
}

func versionedKind(obj runtime.Object) (schema.GroupVersionKind, error) {
	kinds, _, err := upstreamScheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	for _, k := range kinds {
		if k.Version != runtime.APIVersionInternal {
			return k, nil
		}
	}
	return schema.GroupVersionKind{}, fmt.Errorf("%T has no versioned kind in upstream's scheme", obj)
}
