// Package statefulset serves apps/v1 StatefulSets with their status and
// scale subresources.
package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/klog/v2"
	pvcutil "k8s.io/kubernetes/pkg/api/persistentvolumeclaim"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/podtemplate"
	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// maxUnavailableGate guards spec.updateStrategy.rollingUpdate.maxUnavailable.
	maxUnavailableGate featuregate.Feature = "MaxUnavailableStatefulSet"
	// recreateStrategyGate allows the Recreate update strategy.
	recreateStrategyGate featuregate.Feature = "StatefulSetRecreateStrategy"
)

// statefulSetStrategy keeps the status out of user writes and bumps
// metadata.generation on spec changes.
type statefulSetStrategy struct {
	generic.Strategy
}

var strategy = statefulSetStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy deletes a stateful set's pods with it.
func (statefulSetStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

func (statefulSetStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("apps/v1")
}

func (statefulSetStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ss := obj.(*appsv1.StatefulSet)
	ss.Status = appsv1.StatefulSetStatus{}
	ss.Generation = 1
	dropDisabledFields(ss, nil)
	podtemplate.DropDisabledFields(&ss.Spec.Template, nil)
	setClaimTemplateKinds(ss)
}

func (statefulSetStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ss, oldSS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	ss.Status = oldSS.Status
	dropDisabledFields(ss, oldSS)
	podtemplate.DropDisabledFields(&ss.Spec.Template, &oldSS.Spec.Template)
	setClaimTemplateKinds(ss)
	if !apiequality.Semantic.DeepEqual(ss.Spec, oldSS.Spec) {
		ss.Generation = oldSS.Generation + 1
	}
}

// dropDisabledFields clears maxUnavailable while its feature is off, unless
// the stored object already uses it.
func dropDisabledFields(ss, oldSS *appsv1.StatefulSet) {
	if utilfeature.DefaultFeatureGate.Enabled(maxUnavailableGate) || maxUnavailableInUse(oldSS) {
		return
	}
	if ss.Spec.UpdateStrategy.RollingUpdate != nil {
		ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = nil
	}
}

func maxUnavailableInUse(ss *appsv1.StatefulSet) bool {
	return ss != nil && ss.Spec.UpdateStrategy.RollingUpdate != nil && ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil
}

// setClaimTemplateKinds gives every volume claim template apiVersion v1 and
// kind PersistentVolumeClaim, which upstream's apps/v1 conversion always
// writes (kubernetes#87583).
func setClaimTemplateKinds(ss *appsv1.StatefulSet) {
	for i := range ss.Spec.VolumeClaimTemplates {
		ss.Spec.VolumeClaimTemplates[i].APIVersion = "v1"
		ss.Spec.VolumeClaimTemplates[i].Kind = "PersistentVolumeClaim"
	}
}

func (statefulSetStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(ss *apps.StatefulSet) field.ErrorList {
		setOpts := appsvalidation.StatefulSetValidationOptions{
			AllowInvalidServiceName:          false,
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(recreateStrategyGate),
		}
		return appsvalidation.ValidateStatefulSet(ss, setOpts, pod.GetValidationOptionsFromPodTemplate(&ss.Spec.Template, nil))
	})
}

func (statefulSetStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(ss, oldSS *apps.StatefulSet) field.ErrorList {
		// serviceName and volumeClaimTemplates are immutable: tolerate
		// invalid values stored before validation tightened.
		setOpts := appsvalidation.StatefulSetValidationOptions{
			AllowInvalidServiceName:          true,
			SkipValidateVolumeClaimTemplates: true,
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(recreateStrategyGate) ||
				oldSS.Spec.UpdateStrategy.Type == apps.RecreateStatefulSetStrategyType,
		}
		opts := pod.GetValidationOptionsFromPodTemplate(&ss.Spec.Template, &oldSS.Spec.Template)
		return appsvalidation.ValidateStatefulSetUpdate(ss, oldSS, setOpts, opts)
	})
}

func (statefulSetStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	ss, err := toInternal(obj)
	if err != nil {
		klog.ErrorS(err, "Cannot compute stateful set warnings")
		return nil
	}
	warnings := pod.GetWarningsForPodTemplate(ctx, field.NewPath("spec", "template"), &ss.Spec.Template, nil)
	for i, pvc := range ss.Spec.VolumeClaimTemplates {
		warnings = append(warnings, pvcutil.GetWarningsForPersistentVolumeClaimSpec(field.NewPath("spec", "volumeClaimTemplates").Index(i), pvc.Spec)...)
	}
	return append(warnings, revisionHistoryWarnings(ss)...)
}

func (statefulSetStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	ss, err := toInternal(obj)
	if err != nil {
		klog.ErrorS(err, "Cannot compute stateful set warnings")
		return nil
	}
	oldSS, err := toInternal(old)
	if err != nil {
		klog.ErrorS(err, "Cannot compute stateful set warnings")
		return nil
	}
	var warnings []string
	if ss.Generation != oldSS.Generation {
		warnings = pod.GetWarningsForPodTemplate(ctx, field.NewPath("spec", "template"), &ss.Spec.Template, &oldSS.Spec.Template)
	}
	for i, pvc := range ss.Spec.VolumeClaimTemplates {
		// upstream reports these under ".Spec" on update.
		warnings = append(warnings, pvcutil.GetWarningsForPersistentVolumeClaimSpec(field.NewPath("spec", "volumeClaimTemplates").Index(i).Child("Spec"), pvc.Spec)...)
	}
	return append(warnings, revisionHistoryWarnings(ss)...)
}

func revisionHistoryWarnings(ss *apps.StatefulSet) []string {
	if ss.Spec.RevisionHistoryLimit != nil && *ss.Spec.RevisionHistoryLimit < 0 {
		return []string{"spec.revisionHistoryLimit: a negative value retains all historical revisions; a value >= 0 is recommended"}
	}
	return nil
}

func toInternal(obj runtime.Object) (*apps.StatefulSet, error) {
	in, err := rules.ToInternal(obj)
	if err != nil {
		return nil, err
	}
	return in.(*apps.StatefulSet), nil
}

// statefulSetStatusStrategy writes only the status.
type statefulSetStatusStrategy struct {
	statefulSetStrategy
}

var statusStrategy = statefulSetStatusStrategy{strategy}

func (statefulSetStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("apps/v1")
}

func (statefulSetStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*appsv1.StatefulSet).Spec = old.(*appsv1.StatefulSet).Spec
}

func (statefulSetStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, appsvalidation.ValidateStatefulSetStatusUpdate)
}

func (statefulSetStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
