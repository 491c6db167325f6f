// Package deployment serves apps/v1 Deployments with their status and scale
// subresources.
package deployment

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
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

// deploymentStrategy keeps the status out of user writes and bumps
// metadata.generation on spec and annotation changes.
type deploymentStrategy struct {
	generic.Strategy
}

var strategy = deploymentStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy deletes a deployment's replica sets with it.
func (deploymentStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

func (deploymentStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("apps/v1")
}

func (deploymentStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	d := obj.(*appsv1.Deployment)
	d.Status = appsv1.DeploymentStatus{}
	d.Generation = 1
	podtemplate.DropDisabledFields(&d.Spec.Template, nil)
}

// PrepareForUpdate keeps the status and bumps the generation on spec
// changes, so that the controller can tell template changes from scaling,
// and on annotation changes, because annotations are copied to the
// deployment's replica sets (and the deprecated rollback request is one).
func (deploymentStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	d.Status = oldD.Status
	podtemplate.DropDisabledFields(&d.Spec.Template, &oldD.Spec.Template)
	if !apiequality.Semantic.DeepEqual(d.Spec, oldD.Spec) || !apiequality.Semantic.DeepEqual(d.Annotations, oldD.Annotations) {
		d.Generation = oldD.Generation + 1
	}
}

func (deploymentStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	if errs := rollbackAnnotationErrors(obj.(*appsv1.Deployment)); len(errs) > 0 {
		return errs
	}
	return generic.Validate(obj, func(d *apps.Deployment) field.ErrorList {
		return appsvalidation.ValidateDeployment(d, pod.GetValidationOptionsFromPodTemplate(&d.Spec.Template, nil))
	})
}

func (deploymentStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if errs := rollbackAnnotationErrors(obj.(*appsv1.Deployment)); len(errs) > 0 {
		return errs
	}
	return generic.ValidateUpdate(obj, old, func(d, oldD *apps.Deployment) field.ErrorList {
		opts := pod.GetValidationOptionsFromPodTemplate(&d.Spec.Template, &oldD.Spec.Template)
		return appsvalidation.ValidateDeploymentUpdate(d, oldD, opts)
	})
}

// rollbackAnnotationErrors rejects a deprecated rollback request that is not
// a revision number: upstream's conversion cannot read it (and upstream
// rejects it while decoding the request).
func rollbackAnnotationErrors(d *appsv1.Deployment) field.ErrorList {
	value := d.Annotations[appsv1.DeprecatedRollbackTo]
	if value == "" {
		return nil
	}
	if _, err := strconv.ParseInt(value, 10, 64); err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "annotations").Key(appsv1.DeprecatedRollbackTo), value, "must be a revision number")}
	}
	return nil
}

func (deploymentStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	d := obj.(*appsv1.Deployment)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(d.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	return append(warnings, podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &d.Spec.Template, nil)...)
}

func (deploymentStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	if d.Generation == oldD.Generation {
		return nil
	}
	return podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &d.Spec.Template, &oldD.Spec.Template)
}

// deploymentStatusStrategy writes only the status: the spec and the labels
// stay as they are.
type deploymentStatusStrategy struct {
	deploymentStrategy
}

var statusStrategy = deploymentStatusStrategy{strategy}

func (deploymentStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"apps/v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "labels"),
		),
	}
}

func (deploymentStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	d.Spec = oldD.Spec
	d.Labels = oldD.Labels
	if !utilfeature.DefaultFeatureGate.Enabled(terminatingReplicasGate) && oldD.Status.TerminatingReplicas == nil {
		d.Status.TerminatingReplicas = nil
	}
}

func (deploymentStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, appsvalidation.ValidateDeploymentStatusUpdate)
}

func (deploymentStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
