// Package runtimeclass serves node.k8s.io/v1 RuntimeClasses.
package runtimeclass

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	nodeapi "k8s.io/kubernetes/pkg/api/node"
	"k8s.io/kubernetes/pkg/apis/node"
	nodevalidation "k8s.io/kubernetes/pkg/apis/node/validation"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// runtimeClassStrategy validates RuntimeClasses with upstream's rules. Like
// upstream, a PUT may create one and updates need a resourceVersion.
type runtimeClassStrategy struct {
	generic.Strategy
}

var strategy = runtimeClassStrategy{generic.NewStrategy(false)}

func (runtimeClassStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (runtimeClassStrategy) AllowUnconditionalUpdate(ctx context.Context) bool { return false }

func (runtimeClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, nodevalidation.ValidateRuntimeClass)
}

func (runtimeClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(rc, oldRC *node.RuntimeClass) field.ErrorList {
		return append(nodevalidation.ValidateRuntimeClass(rc), nodevalidation.ValidateRuntimeClassUpdate(rc, oldRC)...)
	})
}

// DeclarativeValidationConfig gives upstream's declarative validation the
// field path normalization node.k8s.io uses.
func (runtimeClassStrategy) DeclarativeValidationConfig(ctx context.Context, obj, oldObj runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{NormalizationRules: nodevalidation.NodeNormalizationRules}
}

func (runtimeClassStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(obj)
}

func (runtimeClassStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return warnings(obj)
}

// warnings reports deprecated node labels in scheduling.nodeSelector.
func warnings(obj runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		klog.ErrorS(err, "RuntimeClass warnings skipped")
		return nil
	}
	return nodeapi.GetWarningsForRuntimeClass(in.(*node.RuntimeClass))
}
