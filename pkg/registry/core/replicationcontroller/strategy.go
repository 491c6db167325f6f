// Package replicationcontroller serves core/v1 ReplicationControllers with
// their status and scale subresources.
package replicationcontroller

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/core/helper"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// rcStrategy keeps the status out of the main resource, bumps the
// generation on spec changes and validates with upstream's rules.
type rcStrategy struct {
	generic.Strategy
}

var strategy = rcStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy is upstream's: deleting through core/v1
// orphans the pods unless the request says otherwise (kubectl does).
func (rcStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok &&
		(schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}) == corev1.SchemeGroupVersion {
		return rest.OrphanDependents
	}
	return rest.DeleteDependents
}

func (rcStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

func (rcStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	rc := obj.(*corev1.ReplicationController)
	rc.Status = corev1.ReplicationControllerStatus{}
	rc.Generation = 1
	dropDisabledTemplateFields(rc, nil)
}

func (rcStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rc, oldRC := obj.(*corev1.ReplicationController), old.(*corev1.ReplicationController)
	rc.Status = oldRC.Status
	dropDisabledTemplateFields(rc, oldRC)
	if !apiequality.Semantic.DeepEqual(oldRC.Spec, rc.Spec) {
		rc.Generation = oldRC.Generation + 1
	}
}

func dropDisabledTemplateFields(rc, oldRC *corev1.ReplicationController) {
	var old runtime.Object
	if oldRC != nil {
		old = oldRC
	}
	err := generic.ApplyInternal(rc, old, func(rc, oldRC *core.ReplicationController) {
		var oldTemplate *core.PodTemplateSpec
		if oldRC != nil {
			oldTemplate = oldRC.Spec.Template
		}
		podutil.DropDisabledTemplateFields(rc.Spec.Template, oldTemplate)
	})
	if err != nil {
		klog.ErrorS(err, "Cannot drop disabled fields of a ReplicationController", "replicationController", klog.KObj(rc))
	}
}

func (rcStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(rc *core.ReplicationController) field.ErrorList {
		return corevalidation.ValidateReplicationController(rc, podutil.GetValidationOptionsFromPodTemplate(rc.Spec.Template, nil))
	})
}

// ValidateUpdate also refuses changes to fields that could not be converted
// from another API version (recorded in annotations), as upstream.
func (rcStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(rc, oldRC *core.ReplicationController) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodTemplate(rc.Spec.Template, oldRC.Spec.Template)
		errs := corevalidation.ValidateReplicationControllerUpdate(rc, oldRC, opts)
		for key, value := range helper.NonConvertibleFields(oldRC.Annotations) {
			parts := strings.Split(key, "/")
			if len(parts) != 2 {
				continue
			}
			broken := parts[1]
			switch {
			case strings.Contains(broken, "selector"):
				if !apiequality.Semantic.DeepEqual(oldRC.Spec.Selector, rc.Spec.Selector) {
					errs = append(errs, field.Invalid(field.NewPath("spec").Child("selector"), rc.Spec.Selector, "cannot update non-convertible selector"))
				}
			default:
				errs = append(errs, &field.Error{Type: field.ErrorTypeNotFound, BadValue: value, Field: broken, Detail: "unknown non-convertible field"})
			}
		}
		return errs
	})
}

func (rcStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	rc := obj.(*corev1.ReplicationController)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(rc.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	return append(warnings, templateWarnings(ctx, obj, nil)...)
}

func (rcStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	if obj.(*corev1.ReplicationController).Generation == old.(*corev1.ReplicationController).Generation {
		return nil
	}
	return templateWarnings(ctx, obj, old)
}

// templateWarnings are upstream's pod template warnings. Upstream passes the
// old template first on updates; so does this.
func templateWarnings(ctx context.Context, obj, old runtime.Object) []string {
	in, err := rules.ToInternal(obj)
	if err != nil {
		return nil
	}
	template := in.(*core.ReplicationController).Spec.Template
	path := field.NewPath("spec", "template")
	if old == nil {
		return podutil.GetWarningsForPodTemplate(ctx, path, template, nil)
	}
	oldIn, err := rules.ToInternal(old)
	if err != nil {
		return nil
	}
	return podutil.GetWarningsForPodTemplate(ctx, path, oldIn.(*core.ReplicationController).Spec.Template, template)
}

type rcStatusStrategy struct {
	rcStrategy
}

var statusStrategy = rcStatusStrategy{strategy}

func (rcStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

func (rcStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.ReplicationController).Spec = old.(*corev1.ReplicationController).Spec
}

func (rcStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateReplicationControllerStatusUpdate)
}

func (rcStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs adds status.replicas to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, nil, fmt.Errorf("given object is not a replication controller")
	}
	return rc.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&rc.ObjectMeta, true), fields.Set{
		"status.replicas": strconv.Itoa(int(rc.Status.Replicas)),
	}), nil
}
