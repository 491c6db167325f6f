// Package endpointslice keeps the EndpointSlices of every Service with a
// selector: one endpoint per selected pod with an IP (terminating pods
// included, with upstream's ready/serving/terminating conditions), one
// slice family per address type and distinct port set, at most
// maxEndpointsPerSlice endpoints a slice, existing slices reused and
// filled before new ones are made so that a change touches as few slices
// as possible, and an empty placeholder slice when a Service has no
// endpoints. Slices carry the Service's labels, kubernetes.io/service-name
// and endpointslice.kubernetes.io/managed-by; slices managed by anyone
// else (the API server's default/kubernetes slice, mirrored ones) are
// never touched. Topology-aware hints are off; trafficDistribution hints
// (zone, and node for PreferSameNode) are set as upstream does.
package endpointslice

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/internal/endpoints"
)

const (
	// ControllerName is the value of the managed-by label of the slices
	// this controller owns.
	ControllerName = "endpointslice-controller.k8s.io"
	// DefaultMaxEndpointsPerSlice is upstream's --max-endpoints-per-slice.
	DefaultMaxEndpointsPerSlice = 100

	// A slice change someone else made is looked at after at least this.
	sliceChangeMinSyncDelay = time.Second
)

// Controller is the EndpointSlice controller; its queue holds Service keys.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)

	serviceLister corelisters.ServiceLister
	podLister     corelisters.PodLister
	nodeLister    corelisters.NodeLister
	sliceLister   discoverylisters.EndpointSliceLister
	synced        []cache.InformerSynced

	queue        workqueue.TypedRateLimitingInterface[string]
	tracker      *endpoints.SliceTracker
	triggerTimes *endpoints.TriggerTimeTracker
	reconciler   *reconciler
	batchPeriod  time.Duration
}

// NewController returns the EndpointSlice controller.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, serviceInformer coreinformers.ServiceInformer, nodeInformer coreinformers.NodeInformer, sliceInformer discoveryinformers.EndpointSliceInformer, maxEndpointsPerSlice int32, batchPeriod time.Duration) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "endpoint-slice-controller")
	tracker := endpoints.NewSliceTracker()
	c := &Controller{
		client:        client,
		recorder:      recorder,
		startEvents:   start,
		serviceLister: serviceInformer.Lister(),
		podLister:     podInformer.Lister(),
		nodeLister:    nodeInformer.Lister(),
		sliceLister:   sliceInformer.Lister(),
		synced: []cache.InformerSynced{podInformer.Informer().HasSynced, serviceInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced},
		// Upstream's: per-item back-off from 1s to 1000s, 10 syncs/s overall.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 1000*time.Second),
				&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice"},
		),
		tracker:      tracker,
		triggerTimes: endpoints.NewTriggerTimeTracker(),
		batchPeriod:  batchPeriod,
		reconciler: &reconciler{
			client:       client,
			nodeLister:   nodeInformer.Lister(),
			maxEndpoints: int(maxEndpointsPerSlice),
			tracker:      tracker,
		},
	}
	if _, err := serviceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.podChanged(nil, obj) },
		UpdateFunc: c.podChanged,
		DeleteFunc: func(obj interface{}) { c.podChanged(obj, nil) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := sliceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceAdded,
		UpdateFunc: c.sliceUpdated,
		DeleteFunc: c.sliceDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch endpoint slices: %w", err)
	}
	return c, nil
}

// Run syncs Services with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "endpoint_slice", c.queue, workers, c.syncService, c.synced...)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("get key of %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) podChanged(old, cur interface{}) {
	keys, err := endpoints.ServicesFor(c.serviceLister, endpoints.PodChangeFor(old, cur))
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for key := range keys {
		c.queue.AddAfter(key, c.batchPeriod)
	}
}

// Slice events matter only when they are not the controller's own writes:
// someone edited or deleted a slice it manages, or took one over.
func (c *Controller) sliceAdded(obj interface{}) {
	slice := endpoints.SliceOf(obj)
	if slice != nil && endpoints.ManagedBy(slice, ControllerName) && c.tracker.ShouldSync(slice) {
		c.queueServiceOf(slice)
	}
}

func (c *Controller) sliceUpdated(oldObj, curObj interface{}) {
	old, cur := endpoints.SliceOf(oldObj), endpoints.SliceOf(curObj)
	if old == nil || cur == nil {
		return
	}
	if old.Labels[discoveryv1.LabelServiceName] != cur.Labels[discoveryv1.LabelServiceName] {
		c.queueServiceOf(cur)
		c.queueServiceOf(old)
		return
	}
	managedChanged := endpoints.ManagedBy(old, ControllerName) != endpoints.ManagedBy(cur, ControllerName)
	if managedChanged || (endpoints.ManagedBy(cur, ControllerName) && c.tracker.ShouldSync(cur)) {
		c.queueServiceOf(cur)
	}
}

func (c *Controller) sliceDeleted(obj interface{}) {
	slice := endpoints.SliceOf(obj)
	if slice != nil && endpoints.ManagedBy(slice, ControllerName) && c.tracker.Has(slice) {
		if !c.tracker.HandleDeletion(slice) {
			c.queueServiceOf(slice)
		}
	}
}

func (c *Controller) queueServiceOf(slice *discoveryv1.EndpointSlice) {
	key, err := endpoints.ServiceKey(slice)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.AddAfter(key, max(sliceChangeMinSyncDelay, c.batchPeriod))
}

func (c *Controller) syncService(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector deletes the slices through their owner
		// reference.
		c.triggerTimes.Forget(namespace, name)
		c.tracker.ForgetService(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListPods", "Error listing Pods for Service %s/%s: %v", namespace, name, err)
		return err
	}
	slices, err := c.sliceLister.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}.AsSelectorPreValidated())
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListEndpointSlices", "Error listing Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	live := slices[:0:0]
	for _, s := range slices {
		if s.DeletionTimestamp == nil {
			live = append(live, s)
		}
	}
	if c.tracker.Stale(namespace, name, live) {
		return fmt.Errorf("EndpointSlice informer cache is out of date for service %s", key)
	}
	triggerTime := c.triggerTimes.LastChange(svc, pods)
	if err := c.reconciler.reconcile(ctx, logger, svc, pods, live, triggerTime); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	return nil
}
