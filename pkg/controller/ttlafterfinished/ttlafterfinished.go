// Package ttlafterfinished deletes finished Jobs (with their pods,
// foreground) once spec.ttlSecondsAfterFinished has passed since they
// completed or failed.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Controller is the TTL-after-finished controller.
type Controller struct {
	client    kubernetes.Interface
	jobLister batchlisters.JobLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.PassiveClock
}

// NewController returns the TTL-after-finished controller.
func NewController(client kubernetes.Interface, jobInformer batchinformers.JobInformer) (*Controller, error) {
	c := &Controller{
		client:    client,
		jobLister: jobInformer.Lister(),
		queue:     controller.NewQueue("ttl_jobs_to_delete"),
		clock:     clock.RealClock{},
	}
	h, err := jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, cur interface{}) { c.jobChanged(cur) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch jobs: %w", err)
	}
	c.synced = h.HasSynced
	return c, nil
}

// Run processes Jobs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, "ttlafterfinished", c.queue, workers, c.sync, c.synced)
}

func (c *Controller) jobChanged(obj interface{}) {
	job := obj.(*batchv1.Job)
	if job.DeletionTimestamp == nil && needsCleanup(job) {
		key, err := controller.KeyFunc(job)
		if err != nil {
			utilruntime.HandleError(err)
			return
		}
		c.queue.Add(key)
	}
}

// sync deletes a Job whose TTL expired, checking a fresh copy first (the
// TTL may have been changed), with a UID precondition.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	job, err := c.jobLister.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(ctx, key, job); err != nil || !expired {
		return err
	}
	fresh, err := c.client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := c.expired(ctx, key, fresh); err != nil || !expired {
		return err
	}
	klog.FromContext(ctx).V(4).Info("Cleaning up Job", "job", klog.KObj(fresh))
	policy := metav1.DeletePropagationForeground
	return c.client.BatchV1().Jobs(namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
}

// expired reports whether the Job's TTL passed; if it has not, the Job is
// requeued for when it does.
func (c *Controller) expired(ctx context.Context, key string, job *batchv1.Job) (bool, error) {
	if job.DeletionTimestamp != nil || !needsCleanup(job) {
		return false, nil
	}
	finishedAt, err := finishTime(job)
	if err != nil {
		return false, err
	}
	now := c.clock.Now()
	if finishedAt.After(now) {
		klog.FromContext(ctx).Info("Warning: Found Job finished in the future. This is likely due to time skew in the cluster. Job cleanup will be deferred.", "job", klog.KObj(job))
	}
	left := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now)
	if left <= 0 {
		return true, nil
	}
	c.queue.AddAfter(key, left)
	return false, nil
}

func needsCleanup(job *batchv1.Job) bool {
	return job.Spec.TTLSecondsAfterFinished != nil && isFinished(job)
}

func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// finishTime is when the Job's Complete or Failed condition turned true.
func finishTime(job *batchv1.Job) (time.Time, error) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			if c.LastTransitionTime.IsZero() {
				return time.Time{}, fmt.Errorf("unable to find the time when the Job %s/%s finished", job.Namespace, job.Name)
			}
			return c.LastTransitionTime.Time, nil
		}
	}
	return time.Time{}, fmt.Errorf("unable to find the status of the finished Job %s/%s", job.Namespace, job.Name)
}
