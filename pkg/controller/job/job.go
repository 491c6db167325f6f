// Package job runs Jobs to completion: it creates pods up to parallelism
// (indexed pods with completion-index annotation, label, hostname and
// JOB_COMPLETION_INDEX for Indexed Jobs), counts finished pods through the
// batch.kubernetes.io/job-tracking finalizer and status.uncountedTerminatedPods,
// backs off re-creating failed pods, and finishes the Job with upstream's
// conditions (SuccessCriteriaMet/FailureTarget first, then Complete/Failed
// once no pod is left terminating) for completions, backoffLimit,
// backoffLimitPerIndex, podFailurePolicy, successPolicy and
// activeDeadlineSeconds; suspend deletes the pods.
package job

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Upstream's tuning.
const (
	// syncBatchPeriod batches the many pod events of a Job into one sync.
	syncBatchPeriod = time.Second
	// maxUncountedPods bounds status.uncountedTerminatedPods per write.
	maxUncountedPods = 500
	// maxPodCreateDeletePerSync bounds pod writes per sync.
	maxPodCreateDeletePerSync = 500
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller is the Job controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(ctx context.Context)
	podControl  controller.PodControl

	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	expectations          *controller.Expectations
	finalizerExpectations *finalizerExpectations
	backoff               *backoffStore
	// finishedJobs are Jobs just marked finished whose update the
	// informer has not delivered yet: they must not be synced again.
	finishedJobs sync.Map

	queue       workqueue.TypedRateLimitingInterface[string]
	orphanQueue workqueue.TypedRateLimitingInterface[orphanKey]
	clock       clock.PassiveClock
}

// orphanKey names a pod (byName) or a label selector whose pods may hold
// a tracking finalizer that no Job will remove.
type orphanKey struct {
	namespace  string
	value      string
	bySelector bool
}

// NewController returns the Job controller.
func NewController(client kubernetes.Interface, jobInformer batchinformers.JobInformer, podInformer coreinformers.PodInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "job-controller")
	c := &Controller{
		client:                client,
		recorder:              recorder,
		startEvents:           startEvents,
		podControl:            controller.RealPodControl{Client: client, Recorder: recorder},
		jobLister:             jobInformer.Lister(),
		podLister:             podInformer.Lister(),
		podIndexer:            podInformer.Informer().GetIndexer(),
		expectations:          controller.NewExpectations(),
		finalizerExpectations: newFinalizerExpectations(),
		backoff:               newBackoffStore(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job"}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[orphanKey](time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[orphanKey]{Name: "job_orphan_pod"}),
		clock: clock.RealClock{},
	}
	jobHandler, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueAfter(obj, 0) },
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	})
	if err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	if err := controller.AddPodControllerIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods: %w", err)
	}
	podHandler, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj interface{}) { c.deletePod(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{jobHandler.HasSynced, podHandler.HasSynced}
	return c, nil
}

// Run syncs Jobs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	go func() {
		if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
			return
		}
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for c.processNextOrphan(ctx) {
			}
		}, time.Second)
		<-ctx.Done()
		c.orphanQueue.ShutDown()
	}()
	controller.RunWorkers(ctx, "job", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueueAfter(obj interface{}, delay time.Duration) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.AddAfter(key, delay)
}

func (c *Controller) enqueueBatched(job *batchv1.Job) { c.enqueueAfter(job, syncBatchPeriod) }

func (c *Controller) updateJob(oldObj, curObj interface{}) {
	oldJob, curJob := oldObj.(*batchv1.Job), curObj.(*batchv1.Job)
	if isJobFinished(curJob) {
		// Its pods may still hold tracking finalizers.
		c.enqueueSelector(curJob)
		return
	}
	if curJob.Generation == oldJob.Generation {
		c.enqueueBatched(curJob)
	} else {
		c.enqueueAfter(curJob, 0)
	}
	// A changed deadline needs a look when it passes.
	if curJob.Status.StartTime != nil && curJob.Spec.ActiveDeadlineSeconds != nil {
		if old := oldJob.Spec.ActiveDeadlineSeconds; old == nil || *old != *curJob.Spec.ActiveDeadlineSeconds {
			left := time.Duration(*curJob.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(curJob.Status.StartTime.Time)
			c.enqueueAfter(curJob, left)
		}
	}
}

func (c *Controller) deleteJob(obj interface{}) {
	c.enqueueAfter(obj, 0)
	job, ok := controller.ObjectFromTombstone(obj).(*batchv1.Job)
	if !ok {
		return
	}
	c.finishedJobs.Delete(job.UID)
	c.enqueueSelector(job)
	key := job.Namespace + "/" + job.Name
	c.expectations.Delete(key)
	c.backoff.remove(key)
}

func (c *Controller) enqueueSelector(job *batchv1.Job) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return
	}
	c.orphanQueue.Add(orphanKey{namespace: job.Namespace, value: selector.String(), bySelector: true})
}

func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	job, err := c.jobLister.Jobs(namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

func (c *Controller) jobsSelecting(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := c.jobLister.GetPodJobs(pod)
	if err != nil {
		return nil
	}
	out := make([]*batchv1.Job, 0, len(jobs))
	for i := range jobs {
		out = append(out, &jobs[i])
	}
	return out
}

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if job := c.resolveControllerRef(pod.Namespace, ref); job != nil {
			c.expectations.CreationObserved(job.Namespace + "/" + job.Name)
			c.enqueueBatched(job)
		}
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphanQueue.Add(orphanKey{namespace: pod.Namespace, value: pod.Name})
	}
	for _, job := range c.jobsSelecting(pod) {
		c.enqueueBatched(job)
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	oldPod, curPod := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// Counted as gone now; the final delete comes later.
		c.deletePod(curPod, false)
		return
	}
	finalizerRemoved := !hasTrackingFinalizer(curPod)
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := c.resolveControllerRef(oldPod.Namespace, oldRef); job != nil {
			if finalizerRemoved {
				c.finalizerExpectations.observed(job.Namespace+"/"+job.Name, curPod.UID)
			}
			c.enqueueBatched(job)
		}
	}
	if curRef != nil {
		if job := c.resolveControllerRef(curPod.Namespace, curRef); job != nil {
			if finalizerRemoved {
				c.finalizerExpectations.observed(job.Namespace+"/"+job.Name, curPod.UID)
			}
			c.enqueueBatched(job)
		}
		return
	}
	if hasTrackingFinalizer(curPod) {
		c.orphanQueue.Add(orphanKey{namespace: curPod.Namespace, value: curPod.Name})
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, job := range c.jobsSelecting(curPod) {
			c.enqueueBatched(job)
		}
	}
}

// deletePod handles a pod deletion (final) or a pod getting its deletion
// timestamp.
func (c *Controller) deletePod(obj interface{}, final bool) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	hasFinalizer := hasTrackingFinalizer(pod)
	if ref == nil {
		if hasFinalizer {
			c.orphanQueue.Add(orphanKey{namespace: pod.Namespace, value: pod.Name})
		}
		return
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isJobFinished(job) {
		if hasFinalizer {
			c.orphanQueue.Add(orphanKey{namespace: pod.Namespace, value: pod.Name})
		}
		return
	}
	key := job.Namespace + "/" + job.Name
	c.expectations.DeletionObserved(key, controller.PodKey(pod))
	if final || !hasFinalizer {
		c.finalizerExpectations.observed(key, pod.UID)
	}
	c.enqueueBatched(job)
}

func (c *Controller) processNextOrphan(ctx context.Context) bool {
	key, quit := c.orphanQueue.Get()
	if quit {
		return false
	}
	defer c.orphanQueue.Done(key)
	if err := c.syncOrphan(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing orphan pod")
		c.orphanQueue.AddRateLimited(key)
		return true
	}
	c.orphanQueue.Forget(key)
	return true
}

func (c *Controller) syncOrphan(ctx context.Context, key orphanKey) error {
	if !key.bySelector {
		pod, err := c.podLister.Pods(key.namespace).Get(key.value)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return c.releaseOrphan(ctx, pod)
	}
	selector, err := labels.Parse(key.value)
	if err != nil {
		return fmt.Errorf("invalid label selector: %w", err)
	}
	pods, err := c.podLister.Pods(key.namespace).List(selector)
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if err := c.releaseOrphan(ctx, pod); err != nil {
			c.orphanQueue.AddRateLimited(orphanKey{namespace: pod.Namespace, value: pod.Name})
		}
	}
	return nil
}

// releaseOrphan removes the tracking finalizer of a pod whose Job is gone
// or finished (the Job will never count it).
func (c *Controller) releaseOrphan(ctx context.Context, pod *corev1.Pod) error {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil
		}
		if job := c.resolveControllerRef(pod.Namespace, ref); job != nil {
			if managedByOther(job) || !isJobFinished(job) {
				return nil
			}
		}
	}
	if patch := removeFinalizerPatch(pod); patch != nil {
		if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// podsForJob claims the Job's pods; adopted pods get the tracking
// finalizer added by the adoption patch.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("couldn't convert Job selector: %w", err)
	}
	pods, err := controller.PodsOfOwner(c.podIndexer, job, controllerKind.Kind, true)
	if err != nil {
		return nil, err
	}
	m := &controller.RefManager{
		Controller: job,
		Kind:       controllerKind,
		Selector:   selector,
		Finalizers: []string{batchv1.JobTrackingFinalizer},
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
			fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			if fresh.UID != job.UID {
				return nil, fmt.Errorf("original Job %v/%v is gone: got uid %v, wanted %v", job.Namespace, job.Name, fresh.UID, job.UID)
			}
			return fresh, nil
		}),
	}
	claimed, err := m.ClaimPods(ctx, pods, c.podControl.PatchPod)
	// Adopted pods have the finalizer now, though the cache copy does not.
	for i, p := range claimed {
		if hasTrackingFinalizer(p) {
			continue
		}
		adopted := true
		for _, r := range p.OwnerReferences {
			if r.UID == job.UID {
				adopted = false
			}
		}
		if adopted {
			claimed[i] = p.DeepCopy()
			claimed[i].Finalizers = append(claimed[i].Finalizers, batchv1.JobTrackingFinalizer)
		}
	}
	return claimed, err
}

func isJobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// managedByOther: spec.managedBy names another controller (JobManagedBy,
// GA in 1.35), which then owns the Job's status.
func managedByOther(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}
