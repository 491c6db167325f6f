// Package configmap serves core/v1 ConfigMaps.
package configmap

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// configMapStrategy validates ConfigMaps with upstream's rules; ConfigMaps
// have no status and no generation.
type configMapStrategy struct {
	generic.Strategy
}

var strategy = configMapStrategy{generic.NewStrategy(true)}

func (configMapStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateConfigMap)
}

func (configMapStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(obj, old *core.ConfigMap) field.ErrorList {
		return corevalidation.ValidateConfigMapUpdate(obj, old)
	})
}
