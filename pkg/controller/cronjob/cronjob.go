// Package cronjob creates a Job from each CronJob at its scheduled times
// (cron syntax, optionally in spec.timeZone), named
// "<cronjob>-<minutes since epoch>", honouring concurrencyPolicy
// (Allow/Forbid/Replace), startingDeadlineSeconds and suspend, tracks
// active jobs and lastScheduleTime/lastSuccessfulTime in status, and
// deletes finished jobs beyond the history limits.
package cronjob

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	ref "k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

const jobControllerUIDIndex = "jobControllerUID"

// Controller is the CronJob controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(ctx context.Context)

	cronJobLister batchlisters.CronJobLister
	jobLister     batchlisters.JobLister
	jobIndexer    cache.Indexer
	synced        []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
	clock clock.PassiveClock
}

// NewController returns the CronJob controller.
func NewController(client kubernetes.Interface, jobInformer batchinformers.JobInformer, cronJobInformer batchinformers.CronJobInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "cronjob-controller")
	c := &Controller{
		client:        client,
		recorder:      recorder,
		startEvents:   startEvents,
		cronJobLister: cronJobInformer.Lister(),
		jobLister:     jobInformer.Lister(),
		jobIndexer:    jobInformer.Informer().GetIndexer(),
		queue:         controller.NewQueue("cronjob"),
		clock:         clock.RealClock{},
	}
	if _, ok := jobInformer.Informer().GetIndexer().GetIndexers()[jobControllerUIDIndex]; !ok {
		if err := jobInformer.Informer().AddIndexers(cache.Indexers{jobControllerUIDIndex: func(obj interface{}) ([]string, error) {
			job, ok := obj.(*batchv1.Job)
			if !ok {
				return nil, nil
			}
			if r := metav1.GetControllerOfNoCopy(job); r != nil {
				return []string{string(r.UID)}, nil
			}
			return nil, nil
		}}); err != nil {
			return nil, fmt.Errorf("index jobs: %w", err)
		}
	}
	jobHandler, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.jobChanged,
		UpdateFunc: func(oldObj, curObj interface{}) {
			oldJob, curJob := oldObj.(*batchv1.Job), curObj.(*batchv1.Job)
			if oldJob.ResourceVersion == curJob.ResourceVersion {
				return
			}
			if oldRef, curRef := metav1.GetControllerOfNoCopy(oldJob), metav1.GetControllerOfNoCopy(curJob); oldRef != nil && !reflect.DeepEqual(oldRef, curRef) {
				c.jobChanged(oldObj)
			}
			c.jobChanged(curObj)
		},
		DeleteFunc: c.jobChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	cjHandler, err := cronJobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateCronJob,
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("watch cronjobs: %w", err)
	}
	c.synced = []cache.InformerSynced{jobHandler.HasSynced, cjHandler.HasSynced}
	return c, nil
}

// Run syncs CronJobs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "cronjob", c.queue, workers, c.syncKey, c.synced...)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// jobChanged wakes the CronJob that controls a job.
func (c *Controller) jobChanged(obj interface{}) {
	job, ok := controller.ObjectFromTombstone(obj).(*batchv1.Job)
	if !ok {
		return
	}
	r := metav1.GetControllerOfNoCopy(job)
	if r == nil || r.Kind != controllerKind.Kind {
		return
	}
	cj, err := c.cronJobLister.CronJobs(job.Namespace).Get(r.Name)
	if err != nil || cj.UID != r.UID {
		return
	}
	c.enqueue(cj)
}

// updateCronJob requeues at the next scheduled time when the schedule or
// time zone changed.
func (c *Controller) updateCronJob(oldObj, curObj interface{}) {
	oldCJ, ok1 := oldObj.(*batchv1.CronJob)
	newCJ, ok2 := curObj.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return
	}
	if oldCJ.Spec.Schedule != newCJ.Spec.Schedule || !ptr.Equal(oldCJ.Spec.TimeZone, newCJ.Spec.TimeZone) {
		sched, err := parseSchedule(formatSchedule(newCJ, nil))
		if err != nil {
			c.recorder.Eventf(newCJ, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "unparseable schedule for cronjob: %s", newCJ.Spec.Schedule)
			return
		}
		key, err := controller.KeyFunc(newCJ)
		if err != nil {
			return
		}
		c.queue.AddAfter(key, *nextScheduleTimeDuration(newCJ, c.clock.Now(), sched))
		return
	}
	c.enqueue(curObj)
}

// syncKey syncs and requeues at the next scheduled time.
func (c *Controller) syncKey(ctx context.Context, key string) error {
	after, err := c.sync(ctx, key)
	if err != nil {
		return err
	}
	if after != nil {
		c.queue.AddAfter(key, *after)
	}
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, err
	}
	cached, err := c.cronJobLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	objs, err := c.jobIndexer.ByIndex(jobControllerUIDIndex, string(cached.UID))
	if err != nil {
		return nil, err
	}
	var jobs []*batchv1.Job
	for _, o := range objs {
		if j, ok := o.(*batchv1.Job); ok {
			jobs = append(jobs, j)
		}
	}
	cj := cached.DeepCopy()
	cleaned := c.cleanupFinishedJobs(ctx, cj, jobs)
	after, changed, syncErr := c.syncCronJob(ctx, cj, jobs)
	if syncErr != nil {
		klog.FromContext(ctx).V(2).Info("Error reconciling cronjob", "cronjob", klog.KObj(cj), "err", syncErr)
	}
	if cleaned || changed {
		if _, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
	}
	if after != nil {
		return after, nil
	}
	return nil, syncErr
}

func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, bool, error) {
	logger := klog.FromContext(ctx)
	now := c.clock.Now()
	changed := false

	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		active := inActiveList(cj, j.UID)
		finished, cond := finishedCondition(j)
		switch {
		case !active && !finished:
			// A job we did not record; maybe the cache is behind.
			fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return nil, changed, err
			}
			if inActiveList(fresh, j.UID) {
				*cj = *fresh
				continue
			}
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case finished:
			if active {
				deleteFromActiveList(cj, j.UID)
				c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
				changed = true
			}
			if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
				if cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time) {
					cj.Status.LastSuccessfulTime = j.Status.CompletionTime
					changed = true
				}
			}
		}
	}
	// Active jobs that disappeared.
	for _, a := range append([]corev1.ObjectReference{}, cj.Status.Active...) {
		if children[a.UID] {
			continue
		}
		_, err := c.jobLister.Jobs(a.Namespace).Get(a.Name)
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", a.Name)
			deleteFromActiveList(cj, a.UID)
			changed = true
		case err != nil:
			return nil, changed, err
		}
	}
	if cj.DeletionTimestamp != nil {
		return nil, changed, nil
	}
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *cj.Spec.TimeZone, err)
			return nil, changed, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return nil, changed, nil
	}
	sched, err := parseSchedule(formatSchedule(cj, c.recorder))
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, changed, nil
	}
	scheduled, err := nextScheduleTime(cj, now, sched, c.recorder)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, changed, nil
	}
	if scheduled == nil {
		return nextScheduleTimeDuration(cj, now, sched), changed, nil
	}
	if cj.Spec.StartingDeadlineSeconds != nil && scheduled.Add(time.Second*time.Duration(*cj.Spec.StartingDeadlineSeconds)).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return nextScheduleTimeDuration(cj, now, sched), changed, nil
	}
	jobName := jobNameFor(cj, *scheduled)
	if inActiveListByName(cj, cj.Namespace, jobName) || cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: *scheduled}) {
		return nextScheduleTimeDuration(cj, now, sched), changed, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return nextScheduleTimeDuration(cj, now, sched), changed, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, a := range append([]corev1.ObjectReference{}, cj.Status.Active...) {
			job, err := c.jobLister.Jobs(a.Namespace).Get(a.Name)
			if err != nil {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedGet", "Get job: %v", err)
				return nil, changed, err
			}
			if !c.deleteJob(ctx, cj, job) {
				return nil, changed, fmt.Errorf("could not replace job %s/%s", job.Namespace, job.Name)
			}
			changed = true
		}
	}
	req, err := jobFromTemplate(cj, *scheduled)
	if err != nil {
		logger.Error(err, "Unable to make Job from template", "cronjob", klog.KObj(cj))
		return nil, changed, err
	}
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, req, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, changed, err
	case apierrors.IsAlreadyExists(err):
		existing, getErr := c.jobLister.Jobs(cj.Namespace).Get(req.Name)
		if getErr != nil {
			return nil, changed, getErr
		}
		if !metav1.IsControlledBy(existing, cj) || inActiveList(cj, existing.UID) {
			return nil, changed, nil
		}
		job = existing
		logger.Info("Job already exists", "cronjob", klog.KObj(cj), "job", klog.KObj(req))
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, changed, err
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", job.Name)
	}
	jobRef, err := ref.GetReference(scheme.Scheme, job)
	if err != nil {
		return nil, changed, fmt.Errorf("unable to make object reference for job for %s", klog.KObj(cj))
	}
	cj.Status.Active = append(cj.Status.Active, *jobRef)
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return nextScheduleTimeDuration(cj, now, sched), true, nil
}

// jobNameFor is "<cronjob>-<scheduled time in minutes since the epoch>",
// the same for every controller that would create it.
func jobNameFor(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate builds the Job of one scheduled time: the template's
// labels, annotations (plus the scheduled-timestamp annotation in the
// CronJob's time zone) and spec, controlled by the CronJob.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, err
	}
	lbls := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Labels {
		lbls[k] = v
	}
	ann := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		ann[k] = v
	}
	ann[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:              jobNameFor(cj, scheduled),
			Labels:            lbls,
			Annotations:       ann,
			CreationTimestamp: metav1.Time{Time: scheduled},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

// cleanupFinishedJobs deletes the oldest finished jobs beyond the history
// limits.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.FailedJobsHistoryLimit == nil && cj.Spec.SuccessfulJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch _, cond := finishedCondition(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if cj.Spec.SuccessfulJobsHistoryLimit != nil && c.removeOldest(ctx, cj, succeeded, *cj.Spec.SuccessfulJobsHistoryLimit) {
		changed = true
	}
	if cj.Spec.FailedJobsHistoryLimit != nil && c.removeOldest(ctx, cj, failed, *cj.Spec.FailedJobsHistoryLimit) {
		changed = true
	}
	return changed
}

func (c *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int32) bool {
	n := len(jobs) - int(keep)
	if n <= 0 {
		return false
	}
	sort.SliceStable(jobs, func(i, j int) bool {
		a, b := jobs[i].Status.StartTime, jobs[j].Status.StartTime
		switch {
		case a == nil && b != nil:
			return false
		case a != nil && b == nil:
			return true
		case a.Equal(b):
			return jobs[i].Name < jobs[j].Name
		}
		return a.Before(b)
	})
	changed := false
	for _, j := range jobs[:n] {
		if c.deleteJob(ctx, cj, j) {
			changed = true
		}
	}
	return changed
}

// deleteJob deletes a job with its pods (background propagation).
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) bool {
	if err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		klog.FromContext(ctx).Error(err, "Error deleting job from cronjob", "job", klog.KObj(job), "cronjob", klog.KObj(cj))
		return false
	}
	deleteFromActiveList(cj, job.UID)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", job.Name)
	return true
}

func finishedCondition(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func inActiveList(cj *batchv1.CronJob, uid types.UID) bool {
	for _, a := range cj.Status.Active {
		if a.UID == uid {
			return true
		}
	}
	return false
}

func inActiveListByName(cj *batchv1.CronJob, namespace, name string) bool {
	for _, a := range cj.Status.Active {
		if a.Name == name && a.Namespace == namespace {
			return true
		}
	}
	return false
}

func deleteFromActiveList(cj *batchv1.CronJob, uid types.UID) {
	active := []corev1.ObjectReference{}
	for _, a := range cj.Status.Active {
		if a.UID != uid {
			active = append(active, a)
		}
	}
	cj.Status.Active = active
}
