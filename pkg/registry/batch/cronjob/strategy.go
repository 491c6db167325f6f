// Package cronjob serves batch/v1 CronJobs with their status subresource.
package cronjob

import (
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/batch"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/jobspec"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// workloadWithJobGate allows spec.jobTemplate.spec.scheduling; declarative
// validation needs it as an option.
const workloadWithJobGate featuregate.Feature = "WorkloadWithJob"

// cronJobStrategy keeps the status out of user writes and bumps
// metadata.generation on spec changes.
type cronJobStrategy struct {
	generic.Strategy
}

var strategy = cronJobStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy deletes a cron job's jobs with it.
func (cronJobStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	return rest.DeleteDependents
}

func (cronJobStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("batch/v1")
}

func (cronJobStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	cj.Status = batchv1.CronJobStatus{}
	cj.Generation = 1
	jobspec.DropDisabledFields(&cj.Spec.JobTemplate.Spec, nil)
}

func (cronJobStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	cj, oldCJ := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	cj.Status = oldCJ.Status
	jobspec.DropDisabledFields(&cj.Spec.JobTemplate.Spec, &oldCJ.Spec.JobTemplate.Spec)
	if !apiequality.Semantic.DeepEqual(cj.Spec, oldCJ.Spec) {
		cj.Generation = oldCJ.Generation + 1
	}
}

func (cronJobStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(cj *batch.CronJob) field.ErrorList {
		opts := pod.GetValidationOptionsFromPodTemplate(&cj.Spec.JobTemplate.Spec.Template, nil)
		return batchvalidation.ValidateCronJobCreate(cj, opts)
	})
}

func (cronJobStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(cj, oldCJ *batch.CronJob) field.ErrorList {
		opts := pod.GetValidationOptionsFromPodTemplate(&cj.Spec.JobTemplate.Spec.Template, &oldCJ.Spec.JobTemplate.Spec.Template)
		return batchvalidation.ValidateCronJobUpdate(cj, oldCJ, opts)
	})
}

// DeclarativeValidationConfig gives declarative validation the options the
// CronJob type's tags refer to.
func (cronJobStrategy) DeclarativeValidationConfig(ctx context.Context, obj, oldObj runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{Options: map[string]bool{
		string(workloadWithJobGate): utilfeature.DefaultFeatureGate.Enabled(workloadWithJobGate),
	}}
}

func (cronJobStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	cj := obj.(*batchv1.CronJob)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(cj.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	return append(warnings, jobspec.Warnings(ctx, field.NewPath("spec", "jobTemplate", "spec"), &cj.Spec.JobTemplate.Spec, nil)...)
}

// WarningsOnUpdate warns about a time zone in the schedule, which create
// rejects but update only warns about so that stored cron jobs stay
// editable.
func (cronJobStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	cj, oldCJ := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	var warnings []string
	if cj.Generation != oldCJ.Generation {
		warnings = jobspec.Warnings(ctx, field.NewPath("spec", "jobTemplate", "spec"), &cj.Spec.JobTemplate.Spec, &oldCJ.Spec.JobTemplate.Spec)
	}
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		// upstream's message names the field spec.spec.schedule.
		warnings = append(warnings, fmt.Sprintf("cannot use TZ or CRON_TZ in %s, use timeZone instead, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", field.NewPath("spec", "spec", "schedule")))
	}
	return warnings
}

// cronJobStatusStrategy writes only the status, unvalidated like upstream.
type cronJobStatusStrategy struct {
	cronJobStrategy
}

var statusStrategy = cronJobStatusStrategy{strategy}

func (cronJobStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("batch/v1")
}

func (cronJobStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*batchv1.CronJob).Spec = old.(*batchv1.CronJob).Spec
}

func (cronJobStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return field.ErrorList{}
}

func (cronJobStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}
