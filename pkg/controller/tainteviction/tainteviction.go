// Package tainteviction evicts pods from nodes with NoExecute taints, as
// upstream's taint-eviction controller: a pod that does not tolerate all
// of its node's NoExecute taints is deleted at once; one that tolerates
// them all for a while (tolerationSeconds) is deleted when the shortest
// of those runs out, counted from when the taint was noticed; one that
// tolerates them forever stays. Scheduled deletions are cancelled when
// the taints go or the pod's tolerations change. A deleted pod first gets
// the DisruptionTarget condition (reason DeletionByTaintManager).
package tainteviction

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Name is the controller's (and its events' source) name.
const Name = "taint-eviction-controller"

// eviction is a scheduled deletion of a pod.
type eviction struct {
	createdAt time.Time
	fireAt    time.Time
	timer     clock.Timer
	cancel    chan struct{}
}

// Controller is the taint eviction controller. Its queue holds
// "node/<name>" and "pod/<namespace>/<name>" items.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)
	clock       clock.WithTicker

	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// taintedNodes are the NoExecute taints of each node that has any.
	taintedNodes map[string][]corev1.Taint
	evictions    map[types.NamespacedName]*eviction
	ctx          context.Context
}

// NewController returns the taint eviction controller.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer, clk clock.WithTicker) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, Name)
	c := &Controller{
		client:       client,
		recorder:     recorder,
		startEvents:  start,
		clock:        clk,
		podLister:    podInformer.Lister(),
		nodeLister:   nodeInformer.Lister(),
		podIndexer:   podInformer.Informer().GetIndexer(),
		synced:       []cache.InformerSynced{podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		queue:        controller.NewQueue("noexec_taint"),
		taintedNodes: map[string][]corev1.Taint{},
		evictions:    map[types.NamespacedName]*eviction{},
		ctx:          context.Background(),
	}
	if err := controller.AddPodNodeNameIndexer(podInformer.Informer()); err != nil {
		return nil, err
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.podUpdated(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur interface{}) {
			c.podUpdated(old.(*corev1.Pod), cur.(*corev1.Pod))
		},
		DeleteFunc: func(obj interface{}) {
			if p, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod); ok {
				c.podUpdated(p, nil)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.nodeUpdated(nil, obj.(*corev1.Node)) },
		UpdateFunc: func(old, cur interface{}) {
			c.nodeUpdated(old.(*corev1.Node), cur.(*corev1.Node))
		},
		DeleteFunc: func(obj interface{}) {
			if n, ok := controller.ObjectFromTombstone(obj).(*corev1.Node); ok {
				c.nodeUpdated(n, nil)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	return c, nil
}

// Run handles node and pod changes until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for key, e := range c.evictions {
			e.timer.Stop()
			close(e.cancel)
			delete(c.evictions, key)
		}
	}()
	controller.RunWorkers(ctx, Name, c.queue, workers, c.sync, c.synced...)
}

func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	out := []corev1.Taint{}
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func (c *Controller) nodeUpdated(old, cur *corev1.Node) {
	var name string
	oldTaints, curTaints := []corev1.Taint{}, []corev1.Taint{}
	if old != nil {
		name, oldTaints = old.Name, noExecuteTaints(old.Spec.Taints)
	}
	if cur != nil {
		name, curTaints = cur.Name, noExecuteTaints(cur.Spec.Taints)
	}
	if old != nil && cur != nil && apiequality.Semantic.DeepEqual(oldTaints, curTaints) {
		return
	}
	c.queue.Add("node/" + name)
}

func (c *Controller) podUpdated(old, cur *corev1.Pod) {
	p := cur
	if p == nil {
		p = old
	}
	if old != nil && cur != nil && apiequality.Semantic.DeepEqual(old.Spec.Tolerations, cur.Spec.Tolerations) && old.Spec.NodeName == cur.Spec.NodeName {
		return
	}
	c.queue.Add("pod/" + p.Namespace + "/" + p.Name)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
	case len(key) > 5 && key[:5] == "node/":
		return c.syncNode(ctx, key[5:])
	case len(key) > 4 && key[:4] == "pod/":
		namespace, name, err := cache.SplitMetaNamespaceKey(key[4:])
		if err != nil {
			return err
		}
		return c.syncPod(ctx, types.NamespacedName{Namespace: namespace, Name: name})
	}
	return nil
}

func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.taintedNodes, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	c.mu.Lock()
	if len(taints) == 0 {
		delete(c.taintedNodes, name)
	} else {
		c.taintedNodes[name] = taints
	}
	c.mu.Unlock()
	objs, err := c.podIndexer.ByIndex(controller.PodNodeNameIndex, name)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
		if len(taints) == 0 {
			c.cancel(key)
			continue
		}
		c.processPod(ctx, key, pod.Spec.Tolerations, taints, now)
	}
	return nil
}

func (c *Controller) syncPod(ctx context.Context, key types.NamespacedName) error {
	pod, err := c.podLister.Pods(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return nil
	}
	c.mu.Lock()
	taints, ok := c.taintedNodes[pod.Spec.NodeName]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	c.processPod(ctx, key, pod.Spec.Tolerations, taints, c.clock.Now())
	return nil
}

// minTolerationTime is the shortest tolerationSeconds of tolerations: 0
// for none or a non-positive one, -1 when all tolerate forever.
func minTolerationTime(tolerations []corev1.Toleration) time.Duration {
	if len(tolerations) == 0 {
		return 0
	}
	least := int64(math.MaxInt64)
	for _, t := range tolerations {
		if t.TolerationSeconds == nil {
			continue
		}
		if *t.TolerationSeconds <= 0 {
			return 0
		}
		least = min(least, *t.TolerationSeconds)
	}
	if least == math.MaxInt64 {
		return -1
	}
	return time.Duration(least) * time.Second
}

func (c *Controller) processPod(ctx context.Context, key types.NamespacedName, tolerations []corev1.Toleration, taints []corev1.Taint, now time.Time) {
	logger := klog.FromContext(ctx)
	if len(taints) == 0 {
		c.cancel(key)
		return
	}
	allTolerated, used := v1helper.GetMatchingTolerations(logger, taints, tolerations)
	if !allTolerated {
		logger.V(2).Info("Not all taints are tolerated after update for pod on node", "pod", key.String())
		c.cancel(key)
		c.schedule(key, now, now)
		return
	}
	wait := minTolerationTime(used)
	if wait < 0 {
		c.cancel(key)
		return
	}
	start, fireAt := now, now.Add(wait)
	c.mu.Lock()
	existing := c.evictions[key]
	c.mu.Unlock()
	if existing != nil {
		// An eviction already scheduled earlier stands (upstream keeps it
		// even when the tolerations changed since).
		start = existing.createdAt
		if start.Add(wait).Before(fireAt) {
			return
		}
		c.cancel(key)
	}
	c.schedule(key, start, fireAt)
}

// schedule deletes the pod at fireAt.
func (c *Controller) schedule(key types.NamespacedName, createdAt, fireAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.evictions[key]; ok {
		return
	}
	e := &eviction{createdAt: createdAt, fireAt: fireAt, cancel: make(chan struct{})}
	e.timer = c.clock.NewTimer(max(0, fireAt.Sub(c.clock.Now())))
	c.evictions[key] = e
	ctx := c.ctx
	go func() {
		select {
		case <-e.timer.C():
		case <-e.cancel:
			return
		case <-ctx.Done():
			return
		}
		c.emit(key, "Marking for deletion Pod %s")
		var err error
		for i := 0; i < 5; i++ {
			if err = c.deletePod(ctx, key); err == nil || apierrors.IsNotFound(err) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			utilruntime.HandleErrorWithContext(ctx, err, "Failed to evict pod", "pod", key.String())
		}
		c.mu.Lock()
		if c.evictions[key] == e {
			delete(c.evictions, key)
		}
		c.mu.Unlock()
	}()
}

// cancel drops a scheduled deletion, with upstream's event.
func (c *Controller) cancel(key types.NamespacedName) {
	c.mu.Lock()
	e, ok := c.evictions[key]
	if ok {
		delete(c.evictions, key)
		e.timer.Stop()
		close(e.cancel)
	}
	c.mu.Unlock()
	if ok {
		c.emit(key, "Cancelling deletion of Pod %s")
	}
}

func (c *Controller) emit(key types.NamespacedName, format string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: key.Name, Namespace: key.Namespace}
	c.recorder.Eventf(ref, corev1.EventTypeNormal, "TaintManagerEviction", format, key.String())
}

// deletePod marks the pod as a disruption target and deletes it.
func (c *Controller) deletePod(ctx context.Context, key types.NamespacedName) error {
	klog.FromContext(ctx).Info("Deleting pod", "controller", Name, "pod", key)
	pod, err := c.client.CoreV1().Pods(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	status := pod.Status.DeepCopy()
	if podutil.UpdatePodCondition(status, &corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(&pod.Status, pod.Generation, corev1.DisruptionTarget),
		Status:             corev1.ConditionTrue,
		Reason:             "DeletionByTaintManager",
		Message:            "Taint manager: deleting due to NoExecute taint",
	}) {
		p := pod.DeepCopy()
		p.Status = *status
		if _, err := c.client.CoreV1().Pods(key.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("set DisruptionTarget condition: %w", err)
		}
	}
	return c.client.CoreV1().Pods(key.Namespace).Delete(ctx, key.Name, metav1.DeleteOptions{})
}
