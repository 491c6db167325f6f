// Package nodelifecycle watches node health as upstream's node lifecycle
// controller does. A node whose kubelet stops renewing its Lease in
// kube-node-lease and posting status for the grace period (50s; 60s for
// a node that never posted) gets its Ready, MemoryPressure, DiskPressure
// and PIDPressure conditions set to Unknown; its pods are marked not
// ready. A node whose Ready condition is False or Unknown is tainted
// node.kubernetes.io/not-ready or unreachable with effect NoExecute, rate
// limited per zone (--node-eviction-rate; slower when a large zone is
// partially disrupted; not at all when every zone is fully disrupted), and
// the taints go when it is Ready again. Conditions also map to NoSchedule
// taints (not-ready, unreachable, memory-pressure, disk-pressure,
// pid-pressure, network-unavailable, and unschedulable for cordoned
// nodes). The taint-eviction controller evicts the pods.
package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	nodetopology "k8s.io/component-helpers/node/topology"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Options are the controller's timing and eviction-rate settings
// (upstream's kube-controller-manager flags).
type Options struct {
	// MonitorPeriod is how often node health is checked.
	MonitorPeriod time.Duration
	// MonitorGracePeriod is how long a node may go without a heartbeat
	// before it is Unknown; StartupGracePeriod for a node that never sent one.
	MonitorGracePeriod time.Duration
	StartupGracePeriod time.Duration
	// EvictionRate is how many nodes per second a zone taints NoExecute;
	// SecondaryEvictionRate when the zone is unhealthy and larger than
	// LargeClusterThreshold nodes (0 for smaller ones).
	EvictionRate          float32
	SecondaryEvictionRate float32
	LargeClusterThreshold int32
	// UnhealthyZoneThreshold is the share of not-ready nodes (with more
	// than two) at which a zone is partially disrupted.
	UnhealthyZoneThreshold float32
}

// DefaultOptions are upstream's defaults.
func DefaultOptions() Options {
	return Options{
		MonitorPeriod:          5 * time.Second,
		MonitorGracePeriod:     50 * time.Second,
		StartupGracePeriod:     60 * time.Second,
		EvictionRate:           0.1,
		SecondaryEvictionRate:  0.01,
		LargeClusterThreshold:  50,
		UnhealthyZoneThreshold: 0.55,
	}
}

type zoneState string

const (
	stateInitial           zoneState = "Initial"
	stateNormal            zoneState = "Normal"
	stateFullDisruption    zoneState = "FullDisruption"
	statePartialDisruption zoneState = "PartialDisruption"
)

// taintPassPeriod is how often the NoExecute tainting queues are worked.
const taintPassPeriod = 100 * time.Millisecond

// disruptionExclusionLabel keeps a node out of zone health.
const disruptionExclusionLabel = "node.kubernetes.io/exclude-disruption"

// nodeHealth is what the controller last saw of a node: when it last
// heard from it (probe), when Ready last changed, the status and lease.
type nodeHealth struct {
	probe           metav1.Time
	readyTransition metav1.Time
	status          *corev1.NodeStatus
	lease           *coordinationv1.Lease
}

// Controller is the node lifecycle controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)
	opts        Options
	clock       clock.Clock

	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	synced      []cache.InformerSynced

	healthMu sync.Mutex
	health   map[string]*nodeHealth

	// Only monitorNodeHealth (one goroutine) uses these three.
	knownNodes map[string]*corev1.Node
	zoneStates map[string]zoneState
	// nodesToRetry are nodes whose pods could not all be marked not ready.
	nodesToRetry sync.Map

	taintersMu sync.Mutex
	tainters   map[string]*zoneTainter

	nodeQueue workqueue.TypedInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]
}

// NewController returns the node lifecycle controller.
func NewController(client kubernetes.Interface, leaseInformer coordinformers.LeaseInformer, podInformer coreinformers.PodInformer,
	nodeInformer coreinformers.NodeInformer, opts Options, clk clock.Clock) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "node-controller")
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: start,
		opts:        opts,
		clock:       clk,
		nodeLister:  nodeInformer.Lister(),
		leaseLister: leaseInformer.Lister(),
		podLister:   podInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		synced:      []cache.InformerSynced{leaseInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		health:      map[string]*nodeHealth{},
		knownNodes:  map[string]*corev1.Node{},
		zoneStates:  map[string]zoneState{},
		tainters:    map[string]*zoneTainter{},
		nodeQueue:   workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "node_lifecycle_controller"}),
		podQueue:    controller.NewQueue("node_lifecycle_controller_pods"),
	}
	if err := controller.AddPodNodeNameIndexer(podInformer.Informer()); err != nil {
		return nil, err
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.podUpdated(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur interface{}) {
			c.podUpdated(old.(*corev1.Pod), cur.(*corev1.Pod))
		},
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.nodeQueue.Add(obj.(*corev1.Node).Name) },
		UpdateFunc: func(_, cur interface{}) { c.nodeQueue.Add(cur.(*corev1.Node).Name) },
		DeleteFunc: func(obj interface{}) {
			if n, ok := controller.ObjectFromTombstone(obj).(*corev1.Node); ok {
				c.nodesToRetry.Delete(n.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	return c, nil
}

// Run monitors nodes until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrashWithContext(ctx)
	c.startEvents(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting node controller")
	var wg sync.WaitGroup
	defer func() {
		logger.Info("Shutting down node controller")
		c.nodeQueue.ShutDown()
		c.podQueue.ShutDown()
		wg.Wait()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	for i := 0; i < 8; i++ {
		wg.Go(func() { wait.UntilWithContext(ctx, c.nodeWorker, time.Second) })
	}
	for i := 0; i < 4; i++ {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for controller.ProcessNext(ctx, c.podQueue, c.syncPod) {
				}
			}, time.Second)
		})
	}
	wg.Go(func() { wait.UntilWithContext(ctx, c.noExecuteTaintingPass, taintPassPeriod) })
	wg.Go(func() {
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if err := c.monitorNodeHealth(ctx); err != nil {
				logger.Error(err, "Error monitoring node health")
			}
		}, c.opts.MonitorPeriod)
	})
	<-ctx.Done()
}

func (c *Controller) now() metav1.Time { return metav1.NewTime(c.clock.Now()) }

func (c *Controller) nodeWorker(ctx context.Context) {
	for {
		name, quit := c.nodeQueue.Get()
		if quit {
			return
		}
		if err := c.noScheduleTaintingPass(ctx, name); err != nil {
			klog.FromContext(ctx).Error(err, "Failed to taint NoSchedule on node", "node", name)
		}
		if err := c.reconcileNodeLabels(ctx, name); err != nil {
			klog.FromContext(ctx).Error(err, "Failed to reconcile labels for node", "node", name)
		}
		c.nodeQueue.Done(name)
	}
}

// noScheduleTaintingPass makes a node's NoSchedule condition taints match
// its conditions (and spec.unschedulable).
func (c *Controller) noScheduleTaintingPass(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.Taint
	for _, cond := range node.Status.Conditions {
		if key, ok := conditionTaints[cond.Type][cond.Status]; ok {
			want = append(want, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	var have []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && (t.Key == corev1.TaintNodeUnschedulable || conditionTaintKeys[t.Key]) {
			have = append(have, t)
		}
	}
	var add, remove []corev1.Taint
	for _, t := range want {
		if !hasTaint(have, &t) {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !hasTaint(want, &t) {
			remove = append(remove, t)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	return swapTaints(ctx, c.client, name, add, remove)
}

// reconcileNodeLabels keeps the beta OS and arch labels equal to the
// stable ones.
func (c *Controller) reconcileNodeLabels(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || node.Labels == nil {
		return err
	}
	update := map[string]string{}
	for primary, secondary := range map[string]string{
		corev1.LabelOSStable:   "beta.kubernetes.io/os",
		corev1.LabelArchStable: "beta.kubernetes.io/arch",
	} {
		v, ok := node.Labels[primary]
		if !ok {
			continue
		}
		if sv, ok := node.Labels[secondary]; !ok || sv != v {
			update[secondary] = v
		}
	}
	if len(update) == 0 {
		return nil
	}
	n := node.DeepCopy()
	for k, v := range update {
		n.Labels[k] = v
	}
	_, err = c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	return err
}

func (c *Controller) getHealth(name string) *nodeHealth {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	h := c.health[name]
	if h == nil {
		return nil
	}
	cp := *h
	cp.status = h.status.DeepCopy()
	cp.lease = h.lease.DeepCopy()
	return &cp
}

func (c *Controller) setHealth(name string, h *nodeHealth) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	c.health[name] = h
}

// monitorNodeHealth runs every MonitorPeriod: it notes new and deleted
// nodes, updates each node's health, taints or untaints it, marks pods of
// nodes that just went not ready, and adjusts the zones' eviction rates.
func (c *Controller) monitorNodeHealth(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		seen[n.Name] = true
		if _, known := c.knownNodes[n.Name]; !known {
			logger.V(1).Info("Controller observed a new Node", "node", klog.KObj(n))
			c.recordNodeEvent(n.Name, n.UID, "RegisteredNode", fmt.Sprintf("Registered Node %v in Controller", n.Name))
			c.knownNodes[n.Name] = n
			c.addZone(n)
			if _, err := c.markReachable(ctx, n); err != nil {
				logger.Error(err, "Failed to remove taints from node", "node", klog.KObj(n))
			}
		} else {
			c.addZone(n)
		}
	}
	for name, n := range c.knownNodes {
		if !seen[name] {
			logger.V(1).Info("Controller observed a Node deletion", "node", name)
			c.recordNodeEvent(name, n.UID, "RemovingNode", fmt.Sprintf("Removing Node %v from Controller", name))
			delete(c.knownNodes, name)
			c.healthMu.Lock()
			delete(c.health, name)
			c.healthMu.Unlock()
		}
	}

	var mu sync.Mutex
	zoneConditions := map[string][]*corev1.NodeCondition{}
	workqueue.ParallelizeUntil(ctx, 8, len(nodes), func(i int) {
		node := nodes[i].DeepCopy()
		var observed corev1.NodeCondition
		var current *corev1.NodeCondition
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			var err error
			observed, current, err = c.tryUpdateNodeHealth(ctx, node)
			if err == nil {
				return true, nil
			}
			node, err = c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return false, nil
		})
		if err != nil {
			logger.Error(err, "Update health of Node from Controller error, Skipping - no pods will be evicted", "node", klog.KObj(node))
			return
		}
		if _, excluded := node.Labels[disruptionExclusionLabel]; !excluded {
			mu.Lock()
			zone := nodetopology.GetZoneKey(node)
			zoneConditions[zone] = append(zoneConditions[zone], current)
			mu.Unlock()
		}
		if current == nil {
			c.nodesToRetry.Delete(node.Name)
			return
		}
		c.taintByReadiness(ctx, node, current)
		_, retrying := c.nodesToRetry.Load(node.Name)
		wentNotReady := current.Status != corev1.ConditionTrue && observed.Status == corev1.ConditionTrue
		if wentNotReady {
			c.recordNodeStatus(node, "NodeNotReady")
		}
		if wentNotReady || (retrying && observed.Status != corev1.ConditionTrue) {
			if err := c.markPodsNotReady(ctx, c.podsOnNode(node.Name), node.Name); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Unable to mark all pods NotReady on node; queuing for retry", "node", node.Name)
				c.nodesToRetry.Store(node.Name, struct{}{})
				return
			}
		}
		c.nodesToRetry.Delete(node.Name)
	})
	c.handleDisruption(ctx, zoneConditions, nodes)
	return nil
}

func (c *Controller) podsOnNode(name string) []*corev1.Pod {
	objs, err := c.podIndexer.ByIndex(controller.PodNodeNameIndex, name)
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods
}

// tryUpdateNodeHealth works out whether the node's kubelet is still
// heard from (a new Ready heartbeat or a renewed Lease); if not for the
// grace period, it sets the node's conditions to Unknown. It returns the
// Ready condition as observed and as it is now.
func (c *Controller) tryUpdateNodeHealth(ctx context.Context, node *corev1.Node) (corev1.NodeCondition, *corev1.NodeCondition, error) {
	h := c.getHealth(node.Name)
	defer func() { c.setHealth(node.Name, h) }()

	var observed corev1.NodeCondition
	grace := c.opts.MonitorGracePeriod
	current := nodeCondition(&node.Status, corev1.NodeReady)
	if current == nil {
		// The kubelet never posted status: measure from creation.
		observed = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp}
		grace = c.opts.StartupGracePeriod
		if h != nil {
			h.status = &node.Status
		} else {
			h = &nodeHealth{status: &node.Status, probe: node.CreationTimestamp, readyTransition: node.CreationTimestamp}
		}
	} else {
		observed = *current
	}

	var saved *corev1.NodeCondition
	var savedLease *coordinationv1.Lease
	if h != nil {
		saved = nodeCondition(h.status, corev1.NodeReady)
		savedLease = h.lease
	}
	now := c.now()
	switch {
	case h == nil:
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: now}
	case saved == nil && current != nil, saved != nil && current == nil:
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: now}
	case saved != nil && current != nil && !saved.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		transition := h.readyTransition
		if !saved.LastTransitionTime.Equal(&current.LastTransitionTime) {
			transition = now
		}
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: transition, lease: h.lease}
	}
	lease, _ := c.leaseLister.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if lease != nil && lease.Spec.RenewTime != nil && (savedLease == nil || savedLease.Spec.RenewTime == nil || savedLease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		h.lease = lease
		h.probe = now
	}

	if !now.After(h.probe.Add(grace)) {
		return observed, current, nil
	}
	// Not heard from for the grace period.
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		cond := nodeCondition(&node.Status, t)
		if cond == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			continue
		}
		if cond.Status != corev1.ConditionUnknown {
			cond.Status = corev1.ConditionUnknown
			cond.Reason = "NodeStatusUnknown"
			cond.Message = "Kubelet stopped posting node status."
			cond.LastTransitionTime = now
		}
	}
	current = nodeCondition(&node.Status, corev1.NodeReady)
	if apiequality.Semantic.DeepEqual(current, &observed) {
		return observed, current, nil
	}
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return observed, current, fmt.Errorf("update status of node %s: %w", node.Name, err)
	}
	h = &nodeHealth{status: &node.Status, probe: h.probe, readyTransition: now, lease: lease}
	return observed, current, nil
}

func nodeCondition(status *corev1.NodeStatus, t corev1.NodeConditionType) *corev1.NodeCondition {
	if status == nil {
		return nil
	}
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// taintByReadiness queues a not-ready or unreachable node for its
// NoExecute taint (swapping at once between the two), or removes both
// from a Ready node.
func (c *Controller) taintByReadiness(ctx context.Context, node *corev1.Node, ready *corev1.NodeCondition) {
	logger := klog.FromContext(ctx)
	switch ready.Status {
	case corev1.ConditionFalse:
		if hasTaint(node.Spec.Taints, &unreachableTaint) {
			if err := swapTaints(ctx, c.client, node.Name, []corev1.Taint{notReadyTaint}, []corev1.Taint{unreachableTaint}); err != nil {
				logger.Error(err, "Failed to instantly swap UnreachableTaint to NotReadyTaint. Will try again in the next cycle")
			}
		} else if c.queueForTainting(node, corev1.ConditionFalse) {
			logger.V(2).Info("Node is NotReady. Adding it to the Taint queue", "node", klog.KObj(node))
		}
	case corev1.ConditionUnknown:
		if hasTaint(node.Spec.Taints, &notReadyTaint) {
			if err := swapTaints(ctx, c.client, node.Name, []corev1.Taint{unreachableTaint}, []corev1.Taint{notReadyTaint}); err != nil {
				logger.Error(err, "Failed to instantly swap NotReadyTaint to UnreachableTaint. Will try again in the next cycle")
			}
		} else if c.queueForTainting(node, corev1.ConditionUnknown) {
			logger.V(2).Info("Node is unresponsive. Adding it to the Taint queue", "node", klog.KObj(node))
		}
	case corev1.ConditionTrue:
		if removed, err := c.markReachable(ctx, node); err != nil {
			logger.Error(err, "Failed to remove taints from node. Will retry in next iteration", "node", klog.KObj(node))
		} else if removed {
			logger.V(2).Info("Node is healthy again, removed all taints", "node", klog.KObj(node))
		}
	}
}

func (c *Controller) tainter(node *corev1.Node) *zoneTainter {
	c.taintersMu.Lock()
	defer c.taintersMu.Unlock()
	return c.tainters[nodetopology.GetZoneKey(node)]
}

func (c *Controller) queueForTainting(node *corev1.Node, status corev1.ConditionStatus) bool {
	t := c.tainter(node)
	if t == nil {
		return false
	}
	if (status == corev1.ConditionFalse && !hasTaint(node.Spec.Taints, &notReadyTaint)) ||
		(status == corev1.ConditionUnknown && !hasTaint(node.Spec.Taints, &unreachableTaint)) {
		t.remove(node.Name) // queue again from now
	}
	return t.add(node.Name)
}

// markReachable removes the NoExecute readiness taints and dequeues the
// node; it reports whether the node was queued.
func (c *Controller) markReachable(ctx context.Context, node *corev1.Node) (bool, error) {
	if hasTaint(node.Spec.Taints, &unreachableTaint) || hasTaint(node.Spec.Taints, &notReadyTaint) {
		if err := swapTaints(ctx, c.client, node.Name, nil, []corev1.Taint{unreachableTaint, notReadyTaint}); err != nil {
			return false, err
		}
	}
	t := c.tainter(node)
	if t == nil {
		return false, nil
	}
	return t.remove(node.Name), nil
}

// noExecuteTaintingPass taints the queued nodes, as fast as each zone's
// rate limiter allows.
func (c *Controller) noExecuteTaintingPass(ctx context.Context) {
	c.taintersMu.Lock()
	tainters := make([]*zoneTainter, 0, len(c.tainters))
	for _, t := range c.tainters {
		tainters = append(tainters, t)
	}
	c.taintersMu.Unlock()
	for _, t := range tainters {
		t.try(func(name string) bool {
			node, err := c.nodeLister.Get(name)
			if apierrors.IsNotFound(err) {
				return true
			}
			if err != nil {
				return false
			}
			ready := nodeCondition(&node.Status, corev1.NodeReady)
			if ready == nil {
				return false
			}
			var add, opposite corev1.Taint
			switch ready.Status {
			case corev1.ConditionFalse:
				add, opposite = notReadyTaint, unreachableTaint
			case corev1.ConditionUnknown:
				add, opposite = unreachableTaint, notReadyTaint
			default:
				return true // Ready again
			}
			if err := swapTaints(ctx, c.client, name, []corev1.Taint{add}, []corev1.Taint{opposite}); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Failed to taint node", "node", name)
				return false
			}
			return true
		})
	}
}

// addZone gives a node's zone a tainting queue on first sight.
func (c *Controller) addZone(node *corev1.Node) {
	zone := nodetopology.GetZoneKey(node)
	c.taintersMu.Lock()
	defer c.taintersMu.Unlock()
	if _, ok := c.zoneStates[zone]; !ok {
		c.zoneStates[zone] = stateInitial
		c.tainters[zone] = newZoneTainter(c.opts.EvictionRate, c.clock)
	}
}

func (c *Controller) computeZoneState(conditions []*corev1.NodeCondition) (int, zoneState) {
	ready, notReady := 0, 0
	for _, cond := range conditions {
		if cond != nil && cond.Status == corev1.ConditionTrue {
			ready++
		} else {
			notReady++
		}
	}
	switch {
	case ready == 0 && notReady > 0:
		return notReady, stateFullDisruption
	case notReady > 2 && float32(notReady)/float32(notReady+ready) >= c.opts.UnhealthyZoneThreshold:
		return notReady, statePartialDisruption
	}
	return notReady, stateNormal
}

// handleDisruption sets each zone's tainting rate from its health. When
// every zone is fully disrupted the problem is most likely the control
// plane's view, not the nodes: all taints are removed and tainting stops
// until some node is Ready again.
func (c *Controller) handleDisruption(ctx context.Context, zoneConditions map[string][]*corev1.NodeCondition, nodes []*corev1.Node) {
	logger := klog.FromContext(ctx)
	c.taintersMu.Lock()
	defer c.taintersMu.Unlock()
	newStates := map[string]zoneState{}
	allFully := true
	for zone, conds := range zoneConditions {
		_, s := c.computeZoneState(conds)
		if s != stateFullDisruption {
			allFully = false
		}
		newStates[zone] = s
		if _, ok := c.zoneStates[zone]; !ok {
			c.zoneStates[zone] = stateInitial
		}
	}
	allWereFully := true
	for zone, s := range c.zoneStates {
		if _, ok := zoneConditions[zone]; !ok {
			delete(c.zoneStates, zone)
			continue
		}
		if s != stateFullDisruption {
			allWereFully = false
		}
	}
	switch {
	case allFully && allWereFully:
		return
	case allFully:
		logger.Info("Controller detected that all Nodes are not-Ready. Entering master disruption mode")
		c.taintersMu.Unlock()
		for _, n := range nodes {
			if _, err := c.markReachable(ctx, n); err != nil {
				logger.Error(err, "Failed to remove taints from Node", "node", klog.KObj(n))
			}
		}
		c.taintersMu.Lock()
		for zone := range c.zoneStates {
			if t := c.tainters[zone]; t != nil {
				t.setRate(0)
			}
			c.zoneStates[zone] = stateFullDisruption
		}
	case allWereFully:
		logger.Info("Controller detected that some Nodes are Ready. Exiting master disruption mode")
		now := c.now()
		c.healthMu.Lock()
		for _, n := range nodes {
			if h := c.health[n.Name]; h != nil {
				h.probe, h.readyTransition = now, now
			}
		}
		c.healthMu.Unlock()
		for zone := range c.zoneStates {
			c.setZoneRate(zone, len(zoneConditions[zone]), newStates[zone])
			c.zoneStates[zone] = newStates[zone]
		}
	default:
		for zone, s := range c.zoneStates {
			if s == newStates[zone] {
				continue
			}
			logger.Info("Controller detected that zone is now in new state", "zone", zone, "newState", newStates[zone])
			c.setZoneRate(zone, len(zoneConditions[zone]), newStates[zone])
			c.zoneStates[zone] = newStates[zone]
		}
	}
}

// setZoneRate; the caller holds taintersMu.
func (c *Controller) setZoneRate(zone string, size int, s zoneState) {
	t := c.tainters[zone]
	if t == nil {
		return
	}
	switch s {
	case stateNormal, stateFullDisruption:
		t.setRate(c.opts.EvictionRate)
	case statePartialDisruption:
		if int32(size) > c.opts.LargeClusterThreshold {
			t.setRate(c.opts.SecondaryEvictionRate)
		} else {
			t.setRate(0)
		}
	}
}

// podUpdated: a pod just bound to a node that is not ready is marked not
// ready too.
func (c *Controller) podUpdated(old, cur *corev1.Pod) {
	if cur.Spec.NodeName != "" && (old == nil || old.Spec.NodeName != cur.Spec.NodeName) {
		c.podQueue.Add(cur.Namespace + "/" + cur.Name)
	}
}

func (c *Controller) syncPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	h := c.getHealth(pod.Spec.NodeName)
	if h == nil {
		return nil
	}
	if _, err := c.nodeLister.Get(pod.Spec.NodeName); err != nil {
		return err
	}
	if ready := nodeCondition(h.status, corev1.NodeReady); ready != nil && ready.Status != corev1.ConditionTrue {
		return c.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
	}
	return nil
}

// markPodsNotReady sets the Ready condition of the node's pods to False.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, nodeName string) error {
	var errs []error
	for _, p := range pods {
		if p.Spec.NodeName != nodeName {
			continue
		}
		_, cond := podutil.GetPodCondition(&p.Status, corev1.PodReady)
		if cond == nil {
			continue
		}
		pod := p.DeepCopy()
		c2 := *cond
		c2.Status = corev1.ConditionFalse
		if !podutil.UpdatePodCondition(&pod.Status, &c2) {
			continue
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			continue
		}
		c.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return utilerrors.NewAggregate(errs)
}

func (c *Controller) recordNodeEvent(name string, uid types.UID, reason, message string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}
	c.recorder.Event(ref, corev1.EventTypeNormal, reason, message)
}

func (c *Controller) recordNodeStatus(node *corev1.Node, status string) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	c.recorder.Eventf(ref, corev1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}
