// Package features answers whether an upstream feature gate is on, as the
// process's --feature-gates left it (upstream's default otherwise). skiff
// may not import k8s.io/kubernetes/pkg/features, which declares the gates;
// the rule packages it may import register them, and this package makes
// sure one of those is linked in.
package features

import (
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"

	// Registers upstream's feature gates (it imports pkg/features).
	_ "k8s.io/kubernetes/pkg/apis/core/v1/helper"
)

// Enabled reports whether the named upstream feature gate is on.
func Enabled(name string) bool {
	return utilfeature.DefaultFeatureGate.Enabled(featuregate.Feature(name))
}
