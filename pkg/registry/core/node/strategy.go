// Package node serves core/v1 Nodes with their status and proxy (to the
// kubelet) subresources.
package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Upstream feature gates the node strategy consults (registered by
// k8s.io/kubernetes/pkg/features, which upstream's validation imports).
const (
	featureRecursiveReadOnlyMounts    = "RecursiveReadOnlyMounts"
	featureUserNamespacesSupport      = "UserNamespacesSupport"
	featureSupplementalGroupsPolicy   = "SupplementalGroupsPolicy"
	featureNodeDeclaredFeatures       = "NodeDeclaredFeatures"
	featureSchedulerPreemptionInPlace = "InPlacePodVerticalScalingSchedulerPreemption"
	featureKubeletInUserNamespace     = "KubeletInUserNamespace"
	deprecatedConfigSourceWarning     = "spec.configSource: the feature is removed"
	deprecatedExternalIDWarning       = "spec.externalID: this field is deprecated, and is unused by Kubernetes"
)

func enabled(feature string) bool {
	return utilfeature.DefaultFeatureGate.Enabled(featuregate.Feature(feature))
}

// nodeStrategy: Nodes may be created with a status (the kubelet registers
// itself that way), but updates of the main resource keep it.
type nodeStrategy struct {
	generic.Strategy
}

var strategy = nodeStrategy{generic.NewStrategy(false)}

func (nodeStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

func (nodeStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	dropDisabledFields(obj.(*corev1.Node), nil)
}

func (nodeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
	node.Status = oldNode.Status
	dropDisabledFields(node, oldNode)
}

// dropDisabledFields clears fields of removed or disabled features, unless
// the stored Node already uses them.
func dropDisabledFields(node, oldNode *corev1.Node) {
	if oldNode == nil {
		node.Spec.ConfigSource = nil
		node.Status.Config = nil
	} else if oldNode.Spec.ConfigSource == nil {
		node.Spec.ConfigSource = nil
	}
	if !enabled(featureRecursiveReadOnlyMounts) && !enabled(featureUserNamespacesSupport) {
		node.Status.RuntimeHandlers = nil
	}
	if !enabled(featureSupplementalGroupsPolicy) && (oldNode == nil || oldNode.Status.Features == nil) {
		node.Status.Features = nil
	}
	if !enabled(featureNodeDeclaredFeatures) && (oldNode == nil || oldNode.Status.DeclaredFeatures == nil) {
		node.Status.DeclaredFeatures = nil
	}
	if !enabled(featureSchedulerPreemptionInPlace) && (oldNode == nil || oldNode.Spec.PodPreemptionPolicy == nil) {
		node.Spec.PodPreemptionPolicy = nil
	}
}

func (nodeStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateNode)
}

// ValidateUpdate includes upstream's immutability rules (podCIDR(s) may not
// change once set, and so on).
func (nodeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(node, oldNode *core.Node) field.ErrorList {
		return append(corevalidation.ValidateNode(node), corevalidation.ValidateNodeUpdate(node, oldNode)...)
	})
}

// DeclarativeValidationConfig enables the declarative rules of the options
// upstream's node strategy declares.
func (nodeStrategy) DeclarativeValidationConfig(ctx context.Context, obj, oldObj runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{Options: map[string]bool{
		featureSchedulerPreemptionInPlace: enabled(featureSchedulerPreemptionInPlace),
	}}
}

func (nodeStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return nodeWarnings(obj.(*corev1.Node))
}

func (nodeStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nodeWarnings(obj.(*corev1.Node))
}

func nodeWarnings(node *corev1.Node) []string {
	var warnings []string
	if node.Spec.ConfigSource != nil {
		warnings = append(warnings, deprecatedConfigSourceWarning)
	}
	if node.Spec.DoNotUseExternalID != "" {
		warnings = append(warnings, deprecatedExternalIDWarning)
	}
	path := field.NewPath("spec", "podCIDRs")
	for i, cidr := range node.Spec.PodCIDRs {
		warnings = append(warnings, utilvalidation.GetWarningsForCIDR(path.Index(i), cidr)...)
	}
	return warnings
}

type nodeStatusStrategy struct {
	nodeStrategy
}

var statusStrategy = nodeStatusStrategy{strategy}

func (nodeStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

func (nodeStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
	node.Spec = oldNode.Spec
	if oldNode.Status.Config == nil {
		node.Status.Config = nil
	}
	if !enabled(featureKubeletInUserNamespace) && oldNode.Status.NodeInfo.RunningInUserNamespace == nil {
		node.Status.NodeInfo.RunningInUserNamespace = nil
	}
}

func (nodeStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateNodeUpdate)
}

func (nodeStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs adds spec.unschedulable to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, nil, fmt.Errorf("not a node: %T", obj)
	}
	return node.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&node.ObjectMeta, false), fields.Set{
		"spec.unschedulable": fmt.Sprint(node.Spec.Unschedulable),
	}), nil
}
