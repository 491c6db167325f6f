// Package podtemplate runs upstream's pod-template rules (dropping the fields
// of disabled features, warnings) on k8s.io/api pod templates. Every workload
// that embeds a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet,
// Job, CronJob, ReplicationController, PodTemplate) uses them from its
// strategy, as upstream's strategies use k8s.io/kubernetes/pkg/api/pod.
package podtemplate

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/core"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// DropDisabledFields clears the fields of template that belong to disabled
// features and are not already in use in oldTemplate (nil on create).
//
// The template goes through upstream's internal form and back, so it comes
// out in the shape upstream stores it (for example the deprecated
// serviceAccount field mirrors serviceAccountName).
func DropDisabledFields(template, oldTemplate *corev1.PodTemplateSpec) {
	in, err := ToInternal(template)
	if err != nil {
		// Not reachable for objects the codec decoded; keep the template.
		klog.ErrorS(err, "Cannot drop disabled pod template fields")
		return
	}
	var oldIn *core.PodTemplateSpec
	if oldTemplate != nil {
		if oldIn, err = ToInternal(oldTemplate); err != nil {
			klog.ErrorS(err, "Cannot drop disabled pod template fields")
			return
		}
	}
	pod.DropDisabledTemplateFields(in, oldIn)
	var out corev1.PodTemplateSpec
	if err := rules.ConvertValue(in, &out); err != nil {
		klog.ErrorS(err, "Cannot drop disabled pod template fields")
		return
	}
	*template = out
}

// Warnings returns upstream's warnings for template (at path) given the
// template it replaces (nil on create).
func Warnings(ctx context.Context, path *field.Path, template, oldTemplate *corev1.PodTemplateSpec) []string {
	in, err := ToInternal(template)
	if err != nil {
		klog.ErrorS(err, "Cannot compute pod template warnings")
		return nil
	}
	var oldIn *core.PodTemplateSpec
	if oldTemplate != nil {
		if oldIn, err = ToInternal(oldTemplate); err != nil {
			klog.ErrorS(err, "Cannot compute pod template warnings")
			return nil
		}
	}
	return pod.GetWarningsForPodTemplate(ctx, path, in, oldIn)
}

// ToInternal returns upstream's internal form of template, which shares no
// memory with template.
func ToInternal(template *corev1.PodTemplateSpec) (*core.PodTemplateSpec, error) {
	out := &core.PodTemplateSpec{}
	if err := rules.ConvertValue(template.DeepCopy(), out); err != nil {
		return nil, err
	}
	return out, nil
}
