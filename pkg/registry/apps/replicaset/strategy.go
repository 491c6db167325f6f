// Package replicaset serves apps/v1 ReplicaSets with their status and scale
// subresources.
package replicaset

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/podtemplate"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// terminatingReplicasGate guards status.terminatingReplicas.
const terminatingReplicasGate featuregate.Feature = "DeploymentReplicaSetTerminatingReplicas"

// replicaSetStrategy keeps the status out of user writes and bumps
// metadata.generation on spec changes.
type replicaSetStrategy struct {
	generic.Strategy
}

var strategy = replicaSetStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy deletes a replica set's pods with it.
func (replicaSetStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

func (replicaSetStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("apps/v1")
}

func (replicaSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	rs.Status = appsv1.ReplicaSetStatus{}
	rs.Generation = 1
	podtemplate.DropDisabledFields(&rs.Spec.Template, nil)
}

// PrepareForUpdate keeps the status and bumps the generation on spec
// changes; status writers report the generation they have seen.
func (replicaSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	rs.Status = oldRS.Status
	podtemplate.DropDisabledFields(&rs.Spec.Template, &oldRS.Spec.Template)
	if !apiequality.Semantic.DeepEqual(rs.Spec, oldRS.Spec) {
		rs.Generation = oldRS.Generation + 1
	}
}

func (replicaSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(rs *apps.ReplicaSet) field.ErrorList {
		return appsvalidation.ValidateReplicaSet(rs, pod.GetValidationOptionsFromPodTemplate(&rs.Spec.Template, nil))
	})
}

func (replicaSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(rs, oldRS *apps.ReplicaSet) field.ErrorList {
		opts := pod.GetValidationOptionsFromPodTemplate(&rs.Spec.Template, &oldRS.Spec.Template)
		return appsvalidation.ValidateReplicaSetUpdate(rs, oldRS, opts)
	})
}

func (replicaSetStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	rs := obj.(*appsv1.ReplicaSet)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(rs.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	return append(warnings, podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &rs.Spec.Template, nil)...)
}

func (replicaSetStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	if rs.Generation == oldRS.Generation {
		return nil
	}
	return podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &rs.Spec.Template, &oldRS.Spec.Template)
}

// replicaSetStatusStrategy writes only the status.
type replicaSetStatusStrategy struct {
	replicaSetStrategy
}

var statusStrategy = replicaSetStatusStrategy{strategy}

func (replicaSetStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("apps/v1")
}

func (replicaSetStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	rs.Spec = oldRS.Spec
	if !utilfeature.DefaultFeatureGate.Enabled(terminatingReplicasGate) && oldRS.Status.TerminatingReplicas == nil {
		rs.Status.TerminatingReplicas = nil
	}
}

func (replicaSetStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, appsvalidation.ValidateReplicaSetStatusUpdate)
}

func (replicaSetStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs adds status.replicas to the selectable fields, as upstream's
// storage does (apps/v1's field label conversion only admits the metadata
// fields, so it is reachable from older API versions only).
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return nil, nil, fmt.Errorf("not a replica set: %T", obj)
	}
	return rs.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&rs.ObjectMeta, true), fields.Set{
		"status.replicas": strconv.Itoa(int(rs.Status.Replicas)),
	}), nil
}
