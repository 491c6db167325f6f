// Package daemonset serves apps/v1 DaemonSets with their status
// subresource.
package daemonset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/podtemplate"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// daemonSetStrategy keeps the status out of user writes, bumps
// metadata.generation on spec changes and counts template changes in the
// template generation.
//
// Upstream's internal DaemonSet has spec.templateGeneration; apps/v1 keeps it
// in the deprecated.daemonset.template.generation annotation, which every
// stored apps/v1 DaemonSet carries. skiff stores apps/v1, so the strategy
// maintains the annotation directly.
type daemonSetStrategy struct {
	generic.Strategy
}

var strategy = daemonSetStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy deletes a daemon set's pods with it.
func (daemonSetStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

func (daemonSetStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("apps/v1")
}

func (daemonSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	ds.Status = appsv1.DaemonSetStatus{}
	ds.Generation = 1
	setTemplateGeneration(ds, max(templateGeneration(ds), 1))
	podtemplate.DropDisabledFields(&ds.Spec.Template, nil)
}

// PrepareForUpdate keeps the status and the template generation (users
// cannot set either), bumps both generations when the template changes and
// metadata.generation alone on other spec changes.
func (daemonSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	podtemplate.DropDisabledFields(&ds.Spec.Template, &oldDS.Spec.Template)
	ds.Status = oldDS.Status
	generation := templateGeneration(oldDS)
	if !apiequality.Semantic.DeepEqual(oldDS.Spec.Template, ds.Spec.Template) {
		setTemplateGeneration(ds, generation+1)
		ds.Generation = oldDS.Generation + 1
		return
	}
	setTemplateGeneration(ds, generation)
	if !apiequality.Semantic.DeepEqual(oldDS.Spec, ds.Spec) {
		ds.Generation = oldDS.Generation + 1
	}
}

// templateGeneration reads the template generation annotation; a missing or
// unreadable value counts as 0 (and is rewritten by the caller).
func templateGeneration(ds *appsv1.DaemonSet) int64 {
	g, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return g
}

func setTemplateGeneration(ds *appsv1.DaemonSet, generation int64) {
	annotations := make(map[string]string, len(ds.Annotations)+1)
	for k, v := range ds.Annotations {
		annotations[k] = v
	}
	annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(generation, 10)
	ds.Annotations = annotations
}

func (daemonSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(ds *apps.DaemonSet) field.ErrorList {
		return appsvalidation.ValidateDaemonSet(ds, pod.GetValidationOptionsFromPodTemplate(&ds.Spec.Template, nil))
	})
}

func (daemonSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(ds, oldDS *apps.DaemonSet) field.ErrorList {
		opts := pod.GetValidationOptionsFromPodTemplate(&ds.Spec.Template, &oldDS.Spec.Template)
		opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector || metav1validation.LabelSelectorHasInvalidLabelValue(oldDS.Spec.Selector)
		return appsvalidation.ValidateDaemonSetUpdate(ds, oldDS, opts)
	})
}

func (daemonSetStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	ds := obj.(*appsv1.DaemonSet)
	return podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &ds.Spec.Template, nil)
}

func (daemonSetStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	if templateGeneration(ds) == templateGeneration(oldDS) {
		return nil
	}
	return podtemplate.Warnings(ctx, field.NewPath("spec", "template"), &ds.Spec.Template, &oldDS.Spec.Template)
}

// daemonSetStatusStrategy writes only the status.
type daemonSetStatusStrategy struct {
	daemonSetStrategy
}

var statusStrategy = daemonSetStatusStrategy{strategy}

func (daemonSetStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("apps/v1")
}

func (daemonSetStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*appsv1.DaemonSet).Spec = old.(*appsv1.DaemonSet).Spec
}

func (daemonSetStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, appsvalidation.ValidateDaemonSetStatusUpdate)
}

func (daemonSetStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
