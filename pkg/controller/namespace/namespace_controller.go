// Package namespace empties terminating namespaces: it deletes every
// namespaced resource that discovery lists (built-ins and custom resources,
// pods first), reports progress in the namespace's status conditions, and
// then removes its finalizer through namespaces/finalize so that the API
// server deletes the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// deletionGracePeriod delays the first look at a deleted namespace, as
// upstream does, so that every API server has seen the deletion (and refuses
// new content) and objects created at the last moment are visible to the
// lists that follow.
const deletionGracePeriod = 5 * time.Second

// resyncPeriod re-examines every namespace this often (upstream's
// NamespaceSyncPeriod), so a terminating one missed for any reason is
// picked up again.
const resyncPeriod = 5 * time.Minute

// DiscoverResourcesFunc lists the server's preferred namespaced resources,
// e.g. a discovery client's ServerPreferredNamespacedResources.
type DiscoverResourcesFunc func() ([]*metav1.APIResourceList, error)

// Controller deletes the content of terminating namespaces. The queue
// holds namespace names.
type Controller struct {
	nsLister corelisters.NamespaceLister
	nsSynced cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	deleter  *contentDeleter
	// gracePeriod is deletionGracePeriod; tests shorten it.
	gracePeriod time.Duration
}

// NewController returns a namespace controller that removes finalizerToken
// (upstream's is "kubernetes") once a namespace is empty.
func NewController(kubeClient kubernetes.Interface, metadataClient metadata.Interface, discoverResources DiscoverResourcesFunc, nsInformer coreinformers.NamespaceInformer, finalizerToken corev1.FinalizerName) (*Controller, error) {
	c := &Controller{
		nsLister: nsInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			rateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"},
		),
		deleter: &contentDeleter{
			namespaces:        kubeClient.CoreV1().Namespaces(),
			pods:              kubeClient.CoreV1(),
			metadataClient:    metadataClient,
			discoverResources: discoverResources,
			finalizerToken:    finalizerToken,
		},
		gracePeriod: deletionGracePeriod,
	}
	handler, err := nsInformer.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	}, resyncPeriod)
	if err != nil {
		return nil, fmt.Errorf("watch namespaces: %w", err)
	}
	c.nsSynced = handler.HasSynced
	return c, nil
}

// rateLimiter retries failures quickly (namespace deletion is user-visible)
// but at least once a minute, with an overall cap of 10 per second.
func rateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

func (c *Controller) enqueue(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.AddAfter(ns.Name, c.gracePeriod)
}

// Run processes namespaces with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting namespace controller")
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down namespace controller")
		c.queue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.nsSynced) {
		return
	}
	for i := 0; i < workers; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, c.worker, time.Second) })
	}
	<-ctx.Done()
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.syncHandler(ctx, key)
	var remaining *ResourcesRemainingError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &remaining):
		// Content is terminating gracefully: look again about halfway
		// through the estimate rather than backing off.
		wait := time.Duration(remaining.Estimate/2+1) * time.Second
		klog.FromContext(ctx).V(4).Info("Content remaining in namespace", "namespace", key, "waitSeconds", wait.Seconds())
		c.queue.AddAfter(key, wait)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Deletion of namespace failed", "namespace", key)
		c.queue.AddRateLimited(key)
	}
	return true
}

// syncHandler empties and finalizes one terminating namespace.
func (c *Controller) syncHandler(ctx context.Context, name string) error {
	start := time.Now()
	defer func() {
		klog.FromContext(ctx).V(4).Info("Finished syncing namespace", "namespace", name, "duration", time.Since(start))
	}()
	if _, err := c.nsLister.Get(name); err != nil {
		if apierrors.IsNotFound(err) {
			klog.FromContext(ctx).V(2).Info("Namespace has been deleted", "namespace", name)
			return nil
		}
		return fmt.Errorf("get namespace %s from the cache: %w", name, err)
	}
	return c.deleter.Delete(ctx, name)
}
