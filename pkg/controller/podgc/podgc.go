// Package podgc deletes pods nobody else will: terminated pods beyond
// --terminated-pod-gc-threshold (oldest, evicted first), pods bound to
// nodes that no longer exist, terminating pods that were never
// scheduled, and terminating pods on out-of-service nodes that are not
// ready. Pods not yet terminal are marked Failed first.
package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// Upstream's timing: a sweep every 20s; a node missing from the cache is
// confirmed gone from the API after 40s before its pods are deleted.
const (
	gcCheckPeriod  = 20 * time.Second
	quarantineTime = 40 * time.Second
)

// DefaultTerminatedPodThreshold is upstream's --terminated-pod-gc-threshold.
const DefaultTerminatedPodThreshold = 12500

// Controller is the pod garbage collector.
type Controller struct {
	client     kubernetes.Interface
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	// nodeQueue holds names of nodes missing from the cache, delayed by
	// the quarantine time.
	nodeQueue      workqueue.TypedDelayingInterface[string]
	threshold      int
	checkPeriod    time.Duration
	quarantineTime time.Duration
}

// NewController returns the pod GC; threshold <= 0 disables the
// terminated-pod limit.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer, threshold int) *Controller {
	return &Controller{
		client:         client,
		podLister:      podInformer.Lister(),
		nodeLister:     nodeInformer.Lister(),
		synced:         []cache.InformerSynced{podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		nodeQueue:      workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "orphaned_pods_nodes"}),
		threshold:      threshold,
		checkPeriod:    gcCheckPeriod,
		quarantineTime: quarantineTime,
	}
}

// Run sweeps every gcCheckPeriod until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting GC controller")
	defer func() {
		logger.Info("Shutting down GC controller")
		c.nodeQueue.ShutDown()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return
	}
	wait.UntilWithContext(ctx, c.gc, c.checkPeriod)
}

func (c *Controller) gc(ctx context.Context) {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Error while listing all pods")
		return
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Error while listing all nodes")
		return
	}
	if c.threshold > 0 {
		c.gcTerminated(ctx, pods)
	}
	c.gcTerminatingOutOfService(ctx, pods)
	c.gcOrphaned(ctx, pods, nodes)
	c.gcUnscheduledTerminating(ctx, pods)
}

func isTerminated(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodPending && p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodUnknown
}

// byEvictionAndAge puts evicted pods first, then the oldest.
func byEvictionAndAge(pods []*corev1.Pod) {
	evicted := func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted" }
	sort.SliceStable(pods, func(i, j int) bool {
		if ei, ej := evicted(pods[i]), evicted(pods[j]); ei != ej {
			return ei
		}
		if pods[i].CreationTimestamp.Equal(&pods[j].CreationTimestamp) {
			return pods[i].Name < pods[j].Name
		}
		return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
	})
}

func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, what string) {
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() {
			if err := c.markFailedAndDelete(ctx, p, nil); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Failed to delete "+what, "pod", klog.KObj(p))
			}
		})
	}
	wg.Wait()
}

func (c *Controller) gcTerminated(ctx context.Context, pods []*corev1.Pod) {
	var terminated []*corev1.Pod
	for _, p := range pods {
		if isTerminated(p) {
			terminated = append(terminated, p)
		}
	}
	n := len(terminated) - c.threshold
	if n <= 0 {
		return
	}
	klog.FromContext(ctx).Info("Garbage collecting pods", "numPods", n)
	byEvictionAndAge(terminated)
	c.deleteAll(ctx, terminated[:n], "terminated pod")
}

// gcTerminatingOutOfService frees terminating pods on nodes an operator
// marked out of service (node.kubernetes.io/out-of-service) that are not
// ready: their kubelet will not finish them.
func (c *Controller) gcTerminatingOutOfService(ctx context.Context, pods []*corev1.Pod) {
	var victims []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Spec.NodeName == "" {
			continue
		}
		node, err := c.nodeLister.Get(p.Spec.NodeName)
		if err != nil {
			continue
		}
		if !nodeReady(node) && hasTaintKey(node, corev1.TaintNodeOutOfService) {
			victims = append(victims, p)
		}
	}
	if len(victims) == 0 {
		return
	}
	byEvictionAndAge(victims)
	c.deleteAll(ctx, victims, "terminating pod on out-of-service node")
}

// gcOrphaned deletes pods of nodes that stayed missing for the quarantine
// time and are confirmed gone by the API.
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	existing := sets.New[string]()
	for _, n := range nodes {
		existing.Insert(n.Name)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" && !existing.Has(p.Spec.NodeName) {
			c.nodeQueue.AddAfter(p.Spec.NodeName, c.quarantineTime)
		}
	}
	deleted := sets.New[string]()
	for c.nodeQueue.Len() > 0 {
		name, quit := c.nodeQueue.Get()
		if quit {
			return
		}
		if !existing.Has(name) {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				deleted.Insert(name)
			case err != nil:
				klog.FromContext(ctx).Error(err, "Error while getting node", "node", klog.KRef("", name))
			}
		}
		c.nodeQueue.Done(name)
	}
	for _, p := range pods {
		if !deleted.Has(p.Spec.NodeName) {
			continue
		}
		cond := &corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			ObservedGeneration: podutil.CalculatePodConditionObservedGeneration(&p.Status, p.Generation, corev1.DisruptionTarget),
			Status:             corev1.ConditionTrue,
			Reason:             "DeletionByPodGC",
			Message:            "PodGC: node no longer exists",
		}
		if err := c.markFailedAndDelete(ctx, p, cond); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Failed to delete orphaned pod", "pod", klog.KObj(p))
		} else {
			klog.FromContext(ctx).Info("Forced deletion of orphaned Pod succeeded", "pod", klog.KObj(p))
		}
	}
}

// gcUnscheduledTerminating deletes terminating pods that never got a node
// (no kubelet will ever finish them).
func (c *Controller) gcUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Spec.NodeName != "" {
			continue
		}
		if err := c.markFailedAndDelete(ctx, p, nil); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Failed to delete unscheduled terminating pod", "pod", klog.KObj(p))
		} else {
			klog.FromContext(ctx).Info("Forced deletion of unscheduled terminating Pod succeeded", "pod", klog.KObj(p))
		}
	}
}

// markFailedAndDelete sets a non-terminal pod's phase to Failed (with the
// condition) through the status subresource, then force-deletes it.
func (c *Controller) markFailedAndDelete(ctx context.Context, pod *corev1.Pod, cond *corev1.PodCondition) error {
	klog.FromContext(ctx).Info("PodGC is force deleting Pod", "pod", klog.KObj(pod))
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		status := pod.Status.DeepCopy()
		status.Phase = corev1.PodFailed
		status.ObservedGeneration = podutil.CalculatePodStatusObservedGeneration(pod)
		if cond != nil {
			podutil.UpdatePodCondition(status, cond)
		}
		if err := patchStatus(ctx, c.client, pod, *status); err != nil {
			return err
		}
	}
	return c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, *metav1.NewDeleteOptions(0))
}

// patchStatus sends the difference between the pod's status and status
// as a strategic merge patch guarded by the pod's UID.
func patchStatus(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, status corev1.PodStatus) error {
	oldData, err := json.Marshal(corev1.Pod{Status: pod.Status})
	if err != nil {
		return err
	}
	newData, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: pod.UID}, Status: status})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, corev1.Pod{})
	if err != nil {
		return fmt.Errorf("create status patch for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaintKey(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
