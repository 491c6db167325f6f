// Package job serves batch/v1 Jobs with their status subresource.
package job

import (
	"context"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/batch"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/jobspec"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// managedByGate allows spec.managedBy.
	managedByGate featuregate.Feature = "JobManagedBy"
	// workloadWithJobGate allows spec.scheduling; declarative validation
	// needs it as an option.
	workloadWithJobGate featuregate.Feature = "WorkloadWithJob"
	// The pod template of a suspended job that has not (or no longer) run
	// pods may change its resources and scheduling directives.
	mutablePodResourcesGate         featuregate.Feature = "MutablePodResourcesForSuspendedJobs"
	mutableSchedulingDirectivesGate featuregate.Feature = "MutableSchedulingDirectivesForSuspendedJobs"
)

const dnsLabelNameWarning = "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: %v"

// jobStrategy generates the selector and pod labels of new jobs, keeps the
// status out of user writes and bumps metadata.generation on spec changes.
type jobStrategy struct {
	generic.Strategy
}

var strategy = jobStrategy{generic.NewStrategy(true)}

// DefaultGarbageCollectionPolicy orphans a job's pods when batch/v1 callers
// do not choose, for backwards compatibility, as upstream does.
func (jobStrategy) DefaultGarbageCollectionPolicy(ctx context.Context) rest.GarbageCollectionPolicy {
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok &&
		(schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}) == batchv1.SchemeGroupVersion {
		return rest.OrphanDependents
	}
	return rest.DeleteDependents
}

func (jobStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("batch/v1")
}

func (jobStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	job := obj.(*batchv1.Job)
	if !ptr.Deref(job.Spec.ManualSelector, false) {
		generateSelector(job)
	}
	job.Status = batchv1.JobStatus{}
	job.Generation = 1
	if !utilfeature.DefaultFeatureGate.Enabled(managedByGate) {
		job.Spec.ManagedBy = nil
	}
	jobspec.DropDisabledFields(&job.Spec, nil)
}

// generateSelector selects the job's own pods: it labels the pod template
// with the job's name and UID (the legacy and the prefixed labels) and
// selects the prefixed UID label, which is unique. Labels the user already
// set stay; conflicting ones fail validation.
func generateSelector(job *batchv1.Job) {
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	for _, key := range []string{batch.LegacyJobNameLabel, batch.JobNameLabel} {
		if _, ok := job.Spec.Template.Labels[key]; !ok {
			job.Spec.Template.Labels[key] = job.Name
		}
	}
	for _, key := range []string{batch.LegacyControllerUidLabel, batch.ControllerUidLabel} {
		if _, ok := job.Spec.Template.Labels[key]; !ok {
			job.Spec.Template.Labels[key] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batch.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batch.ControllerUidLabel] = string(job.UID)
	}
}

func (jobStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	job.Status = oldJob.Status
	jobspec.DropDisabledFields(&job.Spec, &oldJob.Spec)
	if !apiequality.Semantic.DeepEqual(job.Spec, oldJob.Spec) {
		job.Generation = oldJob.Generation + 1
	}
}

func (jobStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(job *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobCreate(job, validationOptions(job, nil))
	})
}

func (jobStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(job, oldJob *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdate(job, oldJob, validationOptions(job, oldJob))
	})
}

// DeclarativeValidationConfig gives declarative validation the options the
// Job type's tags refer to.
func (jobStrategy) DeclarativeValidationConfig(ctx context.Context, obj, oldObj runtime.Object) rest.DeclarativeValidationConfig {
	return rest.DeclarativeValidationConfig{Options: map[string]bool{
		string(workloadWithJobGate): utilfeature.DefaultFeatureGate.Enabled(workloadWithJobGate),
	}}
}

// validationOptions relaxes validation on update for what a stored job may
// already have (invalid selector values, missing prefixed labels) and for
// the pod template changes a suspended job allows.
func validationOptions(job, oldJob *batch.Job) batchvalidation.JobValidationOptions {
	opts := batchvalidation.JobValidationOptions{RequirePrefixedLabels: true}
	if oldJob == nil {
		opts.PodValidationOptions = pod.GetValidationOptionsFromPodTemplate(&job.Spec.Template, nil)
		return opts
	}
	opts.PodValidationOptions = pod.GetValidationOptionsFromPodTemplate(&job.Spec.Template, &oldJob.Spec.Template)
	opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector || metav1validation.LabelSelectorHasInvalidLabelValue(oldJob.Spec.Selector)

	suspended := ptr.Deref(oldJob.Spec.Suspend, false)
	notStarted := oldJob.Status.StartTime == nil
	// Node affinity, node selector and tolerations may change only while a
	// job is suspended and has never started.
	opts.AllowMutableSchedulingDirectives = suspended && notStarted
	mutableTemplate := suspended &&
		(notStarted || batchvalidation.IsConditionTrue(oldJob.Status.Conditions, batch.JobSuspended)) &&
		oldJob.Status.Active == 0
	if utilfeature.DefaultFeatureGate.Enabled(mutablePodResourcesGate) {
		opts.AllowMutablePodResources = mutableTemplate
	}
	if utilfeature.DefaultFeatureGate.Enabled(mutableSchedulingDirectivesGate) {
		opts.AllowMutableSchedulingDirectives = mutableTemplate
	}
	// Jobs stored before the prefixed labels existed stay valid.
	_, hadJobName := oldJob.Spec.Template.Labels[batch.JobNameLabel]
	_, hadControllerUID := oldJob.Spec.Template.Labels[batch.ControllerUidLabel]
	opts.RequirePrefixedLabels = hadJobName && hadControllerUID
	return opts
}

func (jobStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	job := obj.(*batchv1.Job)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(job.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf(dnsLabelNameWarning, msgs))
	}
	return append(warnings, jobspec.Warnings(ctx, field.NewPath("spec"), &job.Spec, nil)...)
}

func (jobStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	if job.Generation == oldJob.Generation {
		return nil
	}
	return jobspec.Warnings(ctx, field.NewPath("spec"), &job.Spec, &oldJob.Spec)
}

// jobStatusStrategy writes only the status, and checks that its
// transitions are ones a job controller may make.
type jobStatusStrategy struct {
	jobStrategy
}

var statusStrategy = jobStatusStrategy{strategy}

func (jobStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("batch/v1")
}

func (jobStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*batchv1.Job).Spec = old.(*batchv1.Job).Spec
}

func (jobStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(job, oldJob *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdateStatus(job, oldJob, statusValidationOptions(job, oldJob))
	})
}

func (jobStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// statusValidationOptions checks a status rule only when the status fields
// it is about change, so that writes unrelated to a violation (or made just
// after a spec change the controller has not caught up with) go through.
// Since jobs may be managed by external controllers (spec.managedBy), the
// transitions are checked strictly.
func statusValidationOptions(job, oldJob *batch.Job) batchvalidation.JobStatusValidationOptions {
	if !utilfeature.DefaultFeatureGate.Enabled(managedByGate) {
		return batchvalidation.JobStatusValidationOptions{}
	}
	isIndexed := ptr.Deref(job.Spec.CompletionMode, batch.NonIndexedCompletion) == batch.IndexedCompletion
	conditionChanged := func(c batch.JobConditionType) bool {
		return batchvalidation.IsConditionTrue(oldJob.Status.Conditions, c) != batchvalidation.IsConditionTrue(job.Status.Conditions, c)
	}
	finishedChanged := batchvalidation.IsJobFinished(oldJob) != batchvalidation.IsJobFinished(job)
	completeChanged := batchvalidation.IsJobComplete(oldJob) != batchvalidation.IsJobComplete(job)
	failedChanged := batchvalidation.IsJobFailed(oldJob) != batchvalidation.IsJobFailed(job)
	failureTargetChanged := conditionChanged(batch.JobFailureTarget)
	successCriteriaMetChanged := conditionChanged(batch.JobSuccessCriteriaMet)
	completedIndexesChanged := oldJob.Status.CompletedIndexes != job.Status.CompletedIndexes
	failedIndexesChanged := !ptr.Equal(oldJob.Status.FailedIndexes, job.Status.FailedIndexes)
	activeChanged := oldJob.Status.Active != job.Status.Active
	startTimeChanged := !ptr.Equal(oldJob.Status.StartTime, job.Status.StartTime)
	completionTimeChanged := !ptr.Equal(oldJob.Status.CompletionTime, job.Status.CompletionTime)
	uncountedChanged := !apiequality.Semantic.DeepEqual(oldJob.Status.UncountedTerminatedPods, job.Status.UncountedTerminatedPods)
	readyChanged := !ptr.Equal(oldJob.Status.Ready, job.Status.Ready)
	terminatingChanged := !ptr.Equal(oldJob.Status.Terminating, job.Status.Terminating)
	suspendedWithZeroCompletions := ptr.Equal(job.Spec.Suspend, ptr.To(true)) && ptr.Equal(job.Spec.Completions, ptr.To[int32](0))
	// A resume shows as JobSuspended going from True to False; the
	// controller may then reset the start time (kubernetes#134521).
	resuming := batchvalidation.IsConditionTrue(oldJob.Status.Conditions, batch.JobSuspended) &&
		batchvalidation.IsConditionFalse(job.Status.Conditions, batch.JobSuspended)

	return batchvalidation.JobStatusValidationOptions{
		// Indexed jobs with parallelism == completions can be scaled down.
		RejectDecreasingSucceededCounter:             !isIndexed || !ptr.Equal(job.Spec.Completions, job.Spec.Parallelism),
		RejectDecreasingFailedCounter:                true,
		RejectDisablingTerminalCondition:             true,
		RejectInvalidCompletedIndexes:                completedIndexesChanged,
		RejectInvalidFailedIndexes:                   failedIndexesChanged,
		RejectCompletedIndexesForNonIndexedJob:       completedIndexesChanged,
		RejectFailedIndexesForNoBackoffLimitPerIndex: failedIndexesChanged,
		RejectFailedIndexesOverlappingCompleted:      failedIndexesChanged || completedIndexesChanged,
		RejectFailedJobWithoutFailureTarget:          failedChanged || failedIndexesChanged,
		RejectCompleteJobWithoutSuccessCriteriaMet:   completeChanged || successCriteriaMetChanged,
		RejectFinishedJobWithActivePods:              finishedChanged || activeChanged,
		RejectFinishedJobWithoutStartTime:            (finishedChanged || startTimeChanged) && !suspendedWithZeroCompletions,
		RejectFinishedJobWithUncountedTerminatedPods: finishedChanged || uncountedChanged,
		RejectStartTimeUpdateForUnsuspendedJob:       startTimeChanged && !resuming,
		RejectCompletionTimeBeforeStartTime:          startTimeChanged || completionTimeChanged,
		RejectMutatingCompletionTime:                 true,
		RejectNotCompleteJobWithCompletionTime:       completeChanged || completionTimeChanged,
		RejectCompleteJobWithoutCompletionTime:       completeChanged || completionTimeChanged,
		RejectCompleteJobWithFailedCondition:         completeChanged || failedChanged,
		RejectCompleteJobWithFailureTargetCondition:  completeChanged || failureTargetChanged,
		RejectMoreReadyThanActivePods:                readyChanged || activeChanged,
		RejectFinishedJobWithTerminatingPods:         finishedChanged || terminatingChanged,
	}
}

// getAttrs adds status.successful to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, nil, fmt.Errorf("not a job: %T", obj)
	}
	return job.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&job.ObjectMeta, true), fields.Set{
		"status.successful": strconv.Itoa(int(job.Status.Succeeded)),
	}), nil
}
