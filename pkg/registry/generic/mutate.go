package generic

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// ApplyInternal runs fn, one of upstream's mutating rules written for
// upstream's internal type T (DropDisabledPodFields, DefaultPodLevelResources,
// ...), on obj, a k8s.io/api struct, and writes the result back into obj.
// old, when not nil, is converted too and handed to fn to read; when nil, fn
// gets T's zero value (a nil pointer).
func ApplyInternal[T runtime.Object](obj, old runtime.Object, fn func(obj, old T)) error {
	in, err := internal[T](obj)
	if err != nil {
		return err
	}
	var oldIn T
	if old != nil {
		if oldIn, err = internal[T](old); err != nil {
			return err
		}
	}
	fn(in, oldIn)
	return fromInternal(in, obj)
}

// fromInternal overwrites out with the versioned form of in, keeping out's
// type meta. It converts into a fresh struct so that no field of the old
// value survives a conversion that only sets what it knows.
func fromInternal(in, out runtime.Object) error {
	outValue := reflect.ValueOf(out)
	if outValue.Kind() != reflect.Pointer || outValue.IsNil() {
		return fmt.Errorf("convert into %T: not a pointer to a struct", out)
	}
	fresh, ok := reflect.New(outValue.Elem().Type()).Interface().(runtime.Object)
	if !ok {
		return fmt.Errorf("convert into %T: not a runtime.Object", out)
	}
	if err := rules.FromInternal(in, fresh); err != nil {
		return err
	}
	gvk := out.GetObjectKind().GroupVersionKind()
	outValue.Elem().Set(reflect.ValueOf(fresh).Elem())
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}
