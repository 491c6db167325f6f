// Package endpointslicemirroring mirrors the Endpoints of Services without
// a selector (endpoints a user or another system maintains) into
// EndpointSlices managed by endpointslicemirroring-controller.k8s.io: one
// slice per address type and port set of each (repacked) subset, at most
// maxEndpointsPerSubset addresses each, carrying the Endpoints' labels and
// annotations. Endpoints labelled endpointslice.kubernetes.io/skip-mirror
// (the API server's default/kubernetes) and leader-election records are
// not mirrored; mirrored slices go away with the Endpoints, the Service,
// or when the Service gains a selector.
package endpointslicemirroring

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
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/internal/endpoints"
)

const (
	// ControllerName is the managed-by label value of mirrored slices.
	ControllerName = "endpointslicemirroring-controller.k8s.io"
	// DefaultMaxEndpointsPerSubset is upstream's
	// --mirroring-max-endpoints-per-subset.
	DefaultMaxEndpointsPerSubset = 1000
)

// Controller is the mirroring controller; its queue holds Endpoints keys.
type Controller struct {
	client      kubernetes.Interface
	startEvents func(context.Context)

	endpointsLister corelisters.EndpointsLister
	serviceLister   corelisters.ServiceLister
	sliceLister     discoverylisters.EndpointSliceLister
	synced          []cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[string]
	tracker     *endpoints.SliceTracker
	reconciler  *reconciler
	batchPeriod time.Duration
}

// NewController returns the mirroring controller.
func NewController(client kubernetes.Interface, endpointsInformer coreinformers.EndpointsInformer, sliceInformer discoveryinformers.EndpointSliceInformer, serviceInformer coreinformers.ServiceInformer, maxEndpointsPerSubset int32, batchPeriod time.Duration) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "endpoint-slice-mirroring-controller")
	tracker := endpoints.NewSliceTracker()
	c := &Controller{
		client:          client,
		startEvents:     start,
		endpointsLister: endpointsInformer.Lister(),
		serviceLister:   serviceInformer.Lister(),
		sliceLister:     sliceInformer.Lister(),
		synced: []cache.InformerSynced{endpointsInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced,
			serviceInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 100*time.Second),
				&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice_mirroring"},
		),
		tracker:     tracker,
		batchPeriod: batchPeriod,
		reconciler: &reconciler{
			client:       client,
			maxEndpoints: int(maxEndpointsPerSubset),
			tracker:      tracker,
			recorder:     recorder,
		},
	}
	if _, err := endpointsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if shouldMirror(endpointsOf(obj)) {
				c.enqueue(obj)
			}
		},
		UpdateFunc: func(old, cur interface{}) {
			if shouldMirror(endpointsOf(old)) || shouldMirror(endpointsOf(cur)) {
				c.enqueue(cur)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if shouldMirror(endpointsOf(obj)) {
				c.enqueue(obj)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch endpoints: %w", err)
	}
	if _, err := serviceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if svc := serviceOf(obj); svc != nil && svc.Spec.Selector == nil {
				c.enqueue(obj)
			}
		},
		UpdateFunc: func(old, cur interface{}) {
			o, n := serviceOf(old), serviceOf(cur)
			if o != nil && n != nil && (o.Spec.Selector == nil) != (n.Spec.Selector == nil) {
				c.enqueue(cur)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if svc := serviceOf(obj); svc != nil && svc.Spec.Selector == nil {
				c.enqueue(obj)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	if _, err := sliceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if s := endpoints.SliceOf(obj); s != nil && endpoints.ManagedBy(s, ControllerName) && tracker.ShouldSync(s) {
				c.queueEndpointsOf(s)
			}
		},
		UpdateFunc: func(oldObj, curObj interface{}) {
			old, cur := endpoints.SliceOf(oldObj), endpoints.SliceOf(curObj)
			if old == nil || cur == nil {
				return
			}
			if old.Labels[discoveryv1.LabelServiceName] != cur.Labels[discoveryv1.LabelServiceName] {
				c.queueEndpointsOf(cur)
				c.queueEndpointsOf(old)
				return
			}
			if endpoints.ManagedBy(old, ControllerName) != endpoints.ManagedBy(cur, ControllerName) ||
				(endpoints.ManagedBy(cur, ControllerName) && tracker.ShouldSync(cur)) {
				c.queueEndpointsOf(cur)
			}
		},
		DeleteFunc: func(obj interface{}) {
			s := endpoints.SliceOf(obj)
			if s != nil && endpoints.ManagedBy(s, ControllerName) && tracker.Has(s) && !tracker.HandleDeletion(s) {
				c.queueEndpointsOf(s)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch endpoint slices: %w", err)
	}
	return c, nil
}

// Run mirrors with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "endpoint_slice_mirroring", c.queue, workers, c.syncEndpoints, c.synced...)
}

func endpointsOf(obj interface{}) *corev1.Endpoints {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ep, _ := obj.(*corev1.Endpoints)
	return ep
}

func serviceOf(obj interface{}) *corev1.Service {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// shouldMirror: not skip-mirror, not a leader-election record.
func shouldMirror(ep *corev1.Endpoints) bool {
	if ep == nil || ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return false
	}
	_, leaderElection := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]
	return !leaderElection
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("get key of %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) queueEndpointsOf(s *discoveryv1.EndpointSlice) {
	key, err := endpoints.ServiceKey(s)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.AddAfter(key, c.batchPeriod)
}

func (c *Controller) syncEndpoints(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	ep, err := c.endpointsLister.Endpoints(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Endpoints not found, cleaning up any mirrored EndpointSlices", "endpoints", klog.KRef(namespace, name))
		return c.deleteMirrored(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	if !shouldMirror(ep) {
		return c.deleteMirrored(ctx, namespace, name)
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteMirrored(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector != nil {
		// The endpoints controllers own this Service's endpoints.
		return c.deleteMirrored(ctx, namespace, name)
	}
	slices, err := c.mirrored(namespace, name)
	if err != nil {
		return err
	}
	if c.tracker.Stale(namespace, name, slices) {
		return fmt.Errorf("EndpointSlice informer cache is out of date for endpoints %s", key)
	}
	return c.reconciler.reconcile(ctx, ep, slices)
}

func (c *Controller) mirrored(namespace, name string) ([]*discoveryv1.EndpointSlice, error) {
	return c.sliceLister.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}.AsSelectorPreValidated())
}

func (c *Controller) deleteMirrored(ctx context.Context, namespace, name string) error {
	c.tracker.ForgetService(namespace, name)
	slices, err := c.mirrored(namespace, name)
	if err != nil {
		return err
	}
	return c.reconciler.deleteAll(ctx, namespace, name, slices)
}
