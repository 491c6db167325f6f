// Package resourcequota keeps status.hard and status.used of every
// ResourceQuota: usage is recomputed by the quota evaluators (pkg/quota's
// pods, services, persistent volume claims and legacy object counts, and
// count/<resource>.<group> for any other resource) over informer caches, honouring the quota's
// scopes and scope selector. Informers are started lazily, only for the
// resources some quota limits, and changes to those objects (deletions,
// updates that change usage, creations) bring the namespace's quotas back.
// Every quota is also recomputed each resync period. The ResourceQuota
// admission plugin charges usage at admission time; this controller
// reconciles it with what exists.
package resourcequota

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// DefaultResyncPeriod is upstream's --resource-quota-sync-period.
const DefaultResyncPeriod = 5 * time.Minute

// InformerFunc returns the (shared) informer of a resource; start starts
// informers created since the last call.
type InformerFunc = generic.InformerForResourceFunc

// EvaluatorsFunc builds the evaluators of the resources quota knows
// specially, listing objects through lister.
type EvaluatorsFunc func(lister quota.ListerForResourceFunc) []quota.Evaluator

// Controller is the resource quota controller; its queue holds quota
// keys.
type Controller struct {
	client   kubernetes.Interface
	rqLister corelisters.ResourceQuotaLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]

	registry quota.Registry
	ignored  map[schema.GroupResource]struct{}
	mapper   apimeta.RESTMapper
	// informerFor and start provide the informers evaluators list from.
	informerFor InformerFunc
	start       func(stop <-chan struct{})
	lister      quota.ListerForResourceFunc
	resync      time.Duration

	mu sync.Mutex
	// watched are the resources whose changes replenish quotas.
	watched map[schema.GroupVersionResource]bool
	stop    <-chan struct{}
}

// NewController returns the resource quota controller. evaluators gives
// the special evaluators; ignored resources are never counted; mapper
// resolves count/<resource>.<group> to a version.
func NewController(client kubernetes.Interface, rqInformer coreinformers.ResourceQuotaInformer, evaluators EvaluatorsFunc,
	ignored map[schema.GroupResource]struct{}, mapper apimeta.RESTMapper, informerFor InformerFunc, start func(<-chan struct{}), resync time.Duration) (*Controller, error) {
	c := &Controller{
		client:   client,
		rqLister: rqInformer.Lister(),
		synced:   rqInformer.Informer().HasSynced,
		queue:    controller.NewQueue("resourcequota_primary"),
		ignored:  ignored,
		mapper:   mapper,
		start:    start,
		resync:   resync,
		watched:  map[schema.GroupVersionResource]bool{},
	}
	c.informerFor = c.watch(informerFor)
	c.lister = generic.ListerFuncForResourceFunc(c.informerFor)
	c.registry = generic.NewRegistry(evaluators(c.lister))
	if _, err := rqInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			// Status writes (ours, admission's) need no recomputation,
			// unless status.used lost a resource (a quota reset).
			if quota.Equals(o.Spec.Hard, n.Spec.Hard) && !missingUsage(n) &&
				apiequality.Semantic.DeepEqual(o.Spec.Scopes, n.Spec.Scopes) && apiequality.Semantic.DeepEqual(o.Spec.ScopeSelector, n.Spec.ScopeSelector) {
				return
			}
			c.enqueue(cur)
		},
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch resource quotas: %w", err)
	}
	return c, nil
}

// Run syncs quotas with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.mu.Lock()
	c.stop = ctx.Done()
	c.mu.Unlock()
	c.start(ctx.Done())
	if c.resync > 0 {
		go wait.UntilWithContext(ctx, func(context.Context) {
			if !c.synced() {
				return
			}
			quotas, err := c.rqLister.List(labels.Everything())
			if err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Unable to enqueue all - error listing resource quotas")
				return
			}
			for _, q := range quotas {
				c.enqueue(q)
			}
		}, c.resync)
	}
	controller.RunWorkers(ctx, "resourcequota", c.queue, workers, c.syncQuota, c.synced)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("get key of %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

// missingUsage reports whether a limited resource has no usage yet.
func missingUsage(q *corev1.ResourceQuota) bool {
	for name := range q.Spec.Hard {
		if _, ok := q.Status.Used[name]; !ok {
			return true
		}
	}
	return false
}

// watch wraps informerFor: the first time a resource's informer is asked
// for, its changes start replenishing quotas and the informer is started.
func (c *Controller) watch(informerFor InformerFunc) InformerFunc {
	return func(gvr schema.GroupVersionResource) (informers.GenericInformer, error) {
		inf, err := informerFor(gvr)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.watched[gvr] {
			return inf, nil
		}
		gr := gvr.GroupResource()
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj interface{}) { c.replenish(gr, obj) },
			UpdateFunc: func(old, cur interface{}) {
				if c.usageChanged(gr, old, cur) {
					c.replenish(gr, cur)
				}
			},
			DeleteFunc: func(obj interface{}) { c.replenish(gr, controller.ObjectFromTombstone(obj)) },
		}); err != nil {
			return nil, fmt.Errorf("watch %s for quota: %w", gvr, err)
		}
		c.watched[gvr] = true
		if c.stop != nil {
			c.start(c.stop)
		}
		return inf, nil
	}
}

// usageChanged reports whether an update changes what the object charges
// (a pod turning terminal, a PVC growing, a service changing type).
func (c *Controller) usageChanged(gr schema.GroupResource, old, cur interface{}) bool {
	e := c.registry.Get(gr)
	if e == nil {
		return false
	}
	o, ok1 := old.(runtime.Object)
	n, ok2 := cur.(runtime.Object)
	if !ok1 || !ok2 {
		return false
	}
	ou, err1 := e.Usage(o)
	nu, err2 := e.Usage(n)
	return err1 != nil || err2 != nil || !quota.Equals(ou, nu)
}

// replenish queues the quotas of obj's namespace that limit gr.
func (c *Controller) replenish(gr schema.GroupResource, obj interface{}) {
	m, err := apimeta.Accessor(obj)
	if err != nil {
		return
	}
	e := c.registry.Get(gr)
	if e == nil {
		return
	}
	quotas, err := c.rqLister.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		if len(e.MatchingResources(quota.ResourceNames(q.Status.Hard))) > 0 || len(e.MatchingResources(quota.ResourceNames(q.Spec.Hard))) > 0 {
			c.enqueue(q)
		}
	}
}

// ensureObjectCountEvaluators adds an object-count evaluator for each
// count/<resource>.<group> the quota limits that nothing evaluates yet.
func (c *Controller) ensureObjectCountEvaluators(names []corev1.ResourceName) error {
	var errs []error
	for _, name := range names {
		s := string(name)
		if !strings.HasPrefix(s, "count/") {
			continue
		}
		if matched := c.matchingEvaluator(name); matched {
			continue
		}
		gr := schema.ParseGroupResource(strings.TrimPrefix(s, "count/"))
		if _, ok := c.ignored[gr]; ok {
			continue
		}
		gvr, err := c.mapper.ResourceFor(gr.WithVersion(""))
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %s of %s: %w", gr, name, err))
			continue
		}
		c.registry.Add(generic.NewObjectCountEvaluator(gr, generic.ListResourceUsingListerFunc(c.lister, gvr), ""))
	}
	return utilerrors.NewAggregate(errs)
}

func (c *Controller) matchingEvaluator(name corev1.ResourceName) bool {
	for _, e := range c.registry.List() {
		if len(e.MatchingResources([]corev1.ResourceName{name})) > 0 {
			return true
		}
	}
	return false
}

func (c *Controller) syncQuota(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	rq, err := c.rqLister.ResourceQuotas(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	if err := c.ensureObjectCountEvaluators(quota.ResourceNames(rq.Spec.Hard)); err != nil {
		errs = append(errs, err)
	}

	dirty := !apiequality.Semantic.DeepEqual(rq.Spec.Hard, rq.Status.Hard) || rq.Status.Hard == nil || rq.Status.Used == nil
	used := corev1.ResourceList{}
	if rq.Status.Used != nil {
		used = quota.Add(corev1.ResourceList{}, rq.Status.Used)
	}
	hard := quota.Add(corev1.ResourceList{}, rq.Spec.Hard)
	fresh, err := quota.CalculateUsage(rq.Namespace, rq.Spec.Scopes, hard, c.registry, rq.Spec.ScopeSelector)
	if err != nil {
		errs = append(errs, err)
	}
	for k, v := range fresh {
		used[k] = v
	}
	used = quota.Mask(used, quota.ResourceNames(hard))
	updated := rq.DeepCopy()
	updated.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
	if dirty || !quota.Equals(used, rq.Status.Used) {
		if _, err := c.client.CoreV1().ResourceQuotas(rq.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("update status of resource quota %s: %w", key, err))
		}
	}
	if len(errs) > 0 {
		klog.FromContext(ctx).V(2).Info("Resource quota usage incomplete", "resourceQuota", key, "err", utilerrors.NewAggregate(errs))
	}
	return utilerrors.NewAggregate(errs)
}
