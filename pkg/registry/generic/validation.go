package generic

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// Validate runs an upstream validation function, written for upstream's
// internal type T, on obj (a k8s.io/api struct).
func Validate[T runtime.Object](obj runtime.Object, validate func(T) field.ErrorList) field.ErrorList {
	in, err := internal[T](obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return validate(in)
}

// ValidateUpdate runs an upstream update validation function, written for
// upstream's internal type T, on obj and old (k8s.io/api structs).
func ValidateUpdate[T runtime.Object](obj, old runtime.Object, validate func(obj, old T) field.ErrorList) field.ErrorList {
	in, err := internal[T](obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := internal[T](old)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	return validate(in, oldIn)
}

func internal[T runtime.Object](obj runtime.Object) (T, error) {
	var zero T
	in, err := rules.ToInternal(obj)
	if err != nil {
		return zero, err
	}
	t, ok := in.(T)
	if !ok {
		return zero, fmt.Errorf("upstream's internal form of %T is %T, not %T", obj, in, zero)
	}
	return t, nil
}
