// Package podtemplate serves core/v1 PodTemplates.
package podtemplate

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// podTemplateStrategy validates pod templates with upstream's rules and
// tracks template changes in metadata.generation.
type podTemplateStrategy struct {
	generic.Strategy
}

var strategy = podTemplateStrategy{generic.NewStrategy(true)}

// mutate runs upstream's template rules on the internal form of t (and old).
func mutate(t, old *corev1.PodTemplate, fn func(t, old *api.PodTemplate)) {
	var oldObj runtime.Object
	if old != nil {
		oldObj = old
	}
	if err := generic.ApplyInternal(t, oldObj, fn); err != nil {
		utilruntime.HandleError(fmt.Errorf("apply upstream's rules to pod template %s/%s: %w", t.Namespace, t.Name, err))
	}
}

// PrepareForCreate starts at generation 1 and drops disabled fields.
func (podTemplateStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	mutate(obj.(*corev1.PodTemplate), nil, func(t, _ *api.PodTemplate) {
		t.Generation = 1
		podutil.DropDisabledTemplateFields(&t.Template, nil)
	})
}

// PrepareForUpdate bumps the generation when the template changes.
func (podTemplateStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	mutate(obj.(*corev1.PodTemplate), old.(*corev1.PodTemplate), func(t, oldT *api.PodTemplate) {
		podutil.DropDisabledTemplateFields(&t.Template, &oldT.Template)
		if !apiequality.Semantic.DeepEqual(t.Template, oldT.Template) {
			t.Generation = oldT.Generation + 1
		}
	})
}

func (podTemplateStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(t *api.PodTemplate) field.ErrorList {
		return corevalidation.ValidatePodTemplate(t, podutil.GetValidationOptionsFromPodTemplate(&t.Template, nil))
	})
}

func (podTemplateStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(t, oldT *api.PodTemplate) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(&t.Template, &oldT.Template)
		return corevalidation.ValidatePodTemplateUpdate(t, oldT, opts)
	})
}

func (podTemplateStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return warnings(ctx, obj, nil)
}

// WarningsOnUpdate warns only when the template changed.
func (podTemplateStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	if obj.(*corev1.PodTemplate).Generation == old.(*corev1.PodTemplate).Generation {
		return nil
	}
	return warnings(ctx, obj, old)
}

// warnings are upstream's pod template warnings.
func warnings(ctx context.Context, obj, old runtime.Object) []string {
	var out []string
	check := func(t, oldT *api.PodTemplate) {
		var oldTemplate *api.PodTemplateSpec
		if oldT != nil {
			oldTemplate = &oldT.Template
		}
		out = podutil.GetWarningsForPodTemplate(ctx, field.NewPath("template"), &t.Template, oldTemplate)
	}
	// Warnings read the template; run them on copies so obj is untouched.
	var oldCopy runtime.Object
	if old != nil {
		oldCopy = old.DeepCopyObject()
	}
	if err := generic.ApplyInternal(obj.DeepCopyObject(), oldCopy, check); err != nil {
		utilruntime.HandleError(err)
	}
	return out
}
