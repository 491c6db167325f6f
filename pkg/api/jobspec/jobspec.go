// Package jobspec runs upstream's JobSpec rules (dropping the fields of
// disabled features, warnings) on k8s.io/api JobSpecs, for Jobs and for the
// job template of CronJobs, as upstream's strategies use
// k8s.io/kubernetes/pkg/api/job.
package jobspec

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/api/job"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/batch"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// DropDisabledFields clears the fields of spec, its pod template included,
// that belong to disabled features and are not already in use in oldSpec
// (nil on create). The spec comes out in the shape upstream stores it.
func DropDisabledFields(spec, oldSpec *batchv1.JobSpec) {
	in, err := toInternal(spec)
	if err != nil {
		// Not reachable for objects the codec decoded; keep the spec.
		klog.ErrorS(err, "Cannot drop disabled job spec fields")
		return
	}
	var oldIn *batch.JobSpec
	if oldSpec != nil {
		if oldIn, err = toInternal(oldSpec); err != nil {
			klog.ErrorS(err, "Cannot drop disabled job spec fields")
			return
		}
	}
	job.DropDisabledFields(in, oldIn)
	if oldIn != nil {
		pod.DropDisabledTemplateFields(&in.Template, &oldIn.Template)
	} else {
		pod.DropDisabledTemplateFields(&in.Template, nil)
	}
	var out batchv1.JobSpec
	if err := rules.ConvertValue(in, &out); err != nil {
		klog.ErrorS(err, "Cannot drop disabled job spec fields")
		return
	}
	*spec = out
}

// Warnings returns upstream's warnings for spec (at path) given the spec it
// replaces (nil on create).
func Warnings(ctx context.Context, path *field.Path, spec, oldSpec *batchv1.JobSpec) []string {
	in, err := toInternal(spec)
	if err != nil {
		klog.ErrorS(err, "Cannot compute job spec warnings")
		return nil
	}
	var oldIn *batch.JobSpec
	if oldSpec != nil {
		if oldIn, err = toInternal(oldSpec); err != nil {
			klog.ErrorS(err, "Cannot compute job spec warnings")
			return nil
		}
	}
	return job.WarningsForJobSpec(ctx, path, in, oldIn)
}

func toInternal(spec *batchv1.JobSpec) (*batch.JobSpec, error) {
	out := &batch.JobSpec{}
	if err := rules.ConvertValue(spec.DeepCopy(), out); err != nil {
		return nil, err
	}
	return out, nil
}
