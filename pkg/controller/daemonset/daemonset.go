// Package daemonset runs one pod of every DaemonSet on each node it
// selects (nodeSelector, required node affinity, taints against the pod's
// tolerations plus the daemon tolerations every such pod gets): pods are
// created pinned to their node through node affinity and bound by the
// scheduler, replaced with back-off when they fail, and rolled to new
// ControllerRevisions within maxUnavailable or maxSurge.
package daemonset

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// BurstReplicas caps pod creations and deletions per sync (upstream's).
const BurstReplicas = 250

// Event reasons (upstream's).
const (
	SelectingAllReason       = "SelectingAll"
	FailedDaemonPodReason    = "FailedDaemonPod"
	SucceededDaemonPodReason = "SucceededDaemonPod"
)

const statusUpdateRetries = 1

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(ctx context.Context)
	podControl  controller.PodControl
	burst       int

	dsLister   appslisters.DaemonSetLister
	revLister  appslisters.ControllerRevisionLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced

	expectations *controller.Expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	nodeQueue    workqueue.TypedRateLimitingInterface[string]
	// failedPodsBackoff spaces out the replacement of pods that keep failing.
	failedPodsBackoff *flowcontrol.Backoff
	clock             clock.PassiveClock
}

// NewController returns the DaemonSet controller.
func NewController(client kubernetes.Interface, dsInformer appsinformers.DaemonSetInformer, revInformer appsinformers.ControllerRevisionInformer, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "daemonset-controller")
	c := &Controller{
		client:            client,
		recorder:          recorder,
		startEvents:       startEvents,
		podControl:        controller.RealPodControl{Client: client, Recorder: recorder},
		burst:             BurstReplicas,
		dsLister:          dsInformer.Lister(),
		revLister:         revInformer.Lister(),
		podLister:         podInformer.Lister(),
		podIndexer:        podInformer.Informer().GetIndexer(),
		nodeLister:        nodeInformer.Lister(),
		expectations:      controller.NewExpectations(),
		queue:             controller.NewQueue("daemonset"),
		nodeQueue:         controller.NewQueue("daemonset-nodes"),
		failedPodsBackoff: flowcontrol.NewBackOff(time.Second, 15*time.Minute),
		clock:             clock.RealClock{},
	}
	if err := controller.AddPodControllerIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods: %w", err)
	}
	if err := controller.AddPodNodeNameIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods by node: %w", err)
	}
	dsHandler, err := dsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueObject,
		UpdateFunc: func(_, cur interface{}) { c.enqueueObject(cur) },
		DeleteFunc: c.deleteDaemonSet,
	})
	if err != nil {
		return nil, fmt.Errorf("watch daemonsets: %w", err)
	}
	revHandler, err := revInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.revisionChanged,
		UpdateFunc: func(_, cur interface{}) { c.revisionChanged(cur) },
		DeleteFunc: c.revisionChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("watch controller revisions: %w", err)
	}
	podHandler, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	nodeHandler, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.nodeQueue.Add(obj.(*corev1.Node).Name) },
		UpdateFunc: func(oldObj, curObj interface{}) {
			oldNode, curNode := oldObj.(*corev1.Node), curObj.(*corev1.Node)
			// Only labels and taints decide placement.
			if apiequality.Semantic.DeepEqual(oldNode.Labels, curNode.Labels) && apiequality.Semantic.DeepEqual(oldNode.Spec.Taints, curNode.Spec.Taints) {
				return
			}
			c.nodeQueue.Add(curNode.Name)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	c.synced = []cache.InformerSynced{dsHandler.HasSynced, revHandler.HasSynced, podHandler.HasSynced, nodeHandler.HasSynced}
	return c, nil
}

// Run syncs DaemonSets with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	go wait.UntilWithContext(ctx, func(ctx context.Context) { c.failedPodsBackoff.GC() }, time.Minute)
	go func() {
		if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
			return
		}
		for i := 0; i < workers; i++ {
			go wait.UntilWithContext(ctx, func(ctx context.Context) {
				for controller.ProcessNext(ctx, c.nodeQueue, c.syncNode) {
				}
			}, time.Second)
		}
		<-ctx.Done()
		c.nodeQueue.ShutDown()
	}()
	controller.RunWorkers(ctx, "daemonset", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueueObject(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueue(ds *appsv1.DaemonSet) { c.queue.Add(ds.Namespace + "/" + ds.Name) }

func (c *Controller) deleteDaemonSet(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

func (c *Controller) revisionChanged(obj interface{}) {
	cr, ok := controller.ObjectFromTombstone(obj).(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(cr); ref != nil {
		if ds := c.resolveControllerRef(cr.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) setsSelecting(pod *corev1.Pod) []*appsv1.DaemonSet {
	sets, err := c.dsLister.GetPodDaemonSets(pod)
	if err != nil {
		return nil
	}
	return sets
}

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
			key := ds.Namespace + "/" + ds.Name
			c.expectations.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	for _, ds := range c.setsSelecting(pod) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	oldPod, curPod := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		c.deletePod(curPod)
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(oldPod.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(curPod.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if !podutil.IsPodReady(oldPod) && podutil.IsPodReady(curPod) && ds.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, ds := range c.setsSelecting(curPod) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
		key := ds.Namespace + "/" + ds.Name
		c.expectations.DeletionObserved(key, controller.PodKey(pod))
		c.queue.Add(key)
	}
}

// syncNode wakes the DaemonSets whose placement on a new or changed node
// differs from what runs there.
func (c *Controller) syncNode(ctx context.Context, nodeName string) error {
	node, err := c.nodeLister.Get(nodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", nodeName, err)
	}
	sets, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return err
	}
	objs, err := c.podIndexer.ByIndex(controller.PodNodeNameIndex, nodeName)
	if err != nil {
		return err
	}
	scheduled := map[string]bool{}
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.Kind == controllerKind.Kind {
			scheduled[pod.Namespace+"/"+ref.Name] = true
		}
	}
	for _, ds := range sets {
		shouldRun, shouldContinue := newPlacement(ds).shouldRun(node)
		has := scheduled[ds.Namespace+"/"+ds.Name]
		if (shouldRun && !has) || (!shouldContinue && has) || (has && ds.Status.NumberMisscheduled > 0) {
			c.enqueue(ds)
		}
	}
	return nil
}

// daemonPods claims the DaemonSet's pods by selector.
func (c *Controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := controller.PodsOfOwner(c.podIndexer, ds, controllerKind.Kind, true)
	if err != nil {
		return nil, err
	}
	m := &controller.RefManager{Controller: ds, Kind: controllerKind, Selector: selector, CanAdopt: c.canAdopt(ds)}
	return m.ClaimPods(ctx, pods, c.podControl.PatchPod)
}

func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(ctx context.Context) error {
	return controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != ds.UID {
			return nil, fmt.Errorf("original DaemonSet %v/%v is gone: got uid %v, wanted %v", ds.Namespace, ds.Name, fresh.UID, ds.UID)
		}
		return fresh, nil
	})
}

// podsByNode maps node names to the DaemonSet's pods there; terminal pods
// being deleted are left out unless withDeletedTerminal.
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet, withDeletedTerminal bool) (map[string][]*corev1.Pod, error) {
	pods, err := c.daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		if !withDeletedTerminal && podutil.IsPodTerminal(pod) && pod.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNode(pod)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("Failed to get target node name of Pod in DaemonSet", "pod", klog.KObj(pod), "daemonset", klog.KObj(ds))
			continue
		}
		out[node] = append(out[node], pod)
	}
	return out, nil
}

// byNodeAndAge orders scheduled pods first, then oldest first.
func byNodeAndAge(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// podsForNode decides, for one node, whether a pod must be created there
// and which pods must go (failed with back-off, succeeded, duplicates,
// or all of them when the node no longer qualifies).
func (c *Controller) podsForNode(ctx context.Context, node *corev1.Node, byNode map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string, p placement) (create bool, remove []*corev1.Pod) {
	logger := klog.FromContext(ctx)
	shouldRun, shouldContinue := p.shouldRun(node)
	pods, exists := byNode[node.Name]
	switch {
	case shouldRun && !exists:
		return true, nil
	case shouldContinue:
		var running []*corev1.Pod
		for _, pod := range pods {
			if pod.DeletionTimestamp != nil {
				continue
			}
			switch pod.Status.Phase {
			case corev1.PodFailed:
				key := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node.Name)
				now := c.failedPodsBackoff.Clock.Now()
				if c.failedPodsBackoff.IsInBackOffSinceUpdate(key, now) {
					c.queue.AddAfter(ds.Namespace+"/"+ds.Name, c.failedPodsBackoff.Get(key))
					continue
				}
				c.failedPodsBackoff.Next(key, now)
				logger.V(2).Info("Found failed daemon pod on node, will try to kill it", "pod", klog.KObj(pod), "node", klog.KObj(node))
				c.recorder.Eventf(ds, corev1.EventTypeWarning, FailedDaemonPodReason, "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
				remove = append(remove, pod)
			case corev1.PodSucceeded:
				c.recorder.Eventf(ds, corev1.EventTypeNormal, SucceededDaemonPodReason, "Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
				remove = append(remove, pod)
			default:
				running = append(running, pod)
			}
		}
		if !allowsSurge(ds) {
			// One pod per node: keep the oldest.
			if len(running) > 1 {
				byNodeAndAge(running)
				remove = append(remove, running[1:]...)
			}
			return false, remove
		}
		if len(running) <= 1 {
			return len(running) == 0 && shouldRun, remove
		}
		// Surge: keep the oldest new and the oldest old pod; the old one
		// goes once the new one is available (or the old one broke).
		byNodeAndAge(running)
		var oldestNew, oldestOld *corev1.Pod
		for _, pod := range running {
			if pod.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
				if oldestNew == nil {
					oldestNew = pod
					continue
				}
			} else if oldestOld == nil {
				oldestOld = pod
				continue
			}
			remove = append(remove, pod)
		}
		if oldestNew != nil && oldestOld != nil {
			if !podutil.IsPodReady(oldestOld) || podutil.IsPodAvailable(oldestNew, ds.Spec.MinReadySeconds, metav1.Time{Time: c.failedPodsBackoff.Clock.Now()}) {
				remove = append(remove, oldestOld)
			}
		}
		return false, remove
	case exists:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				remove = append(remove, pod)
			}
		}
	}
	return false, remove
}

// manage creates and deletes pods so that each qualifying node runs one.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	p := newPlacement(ds)
	var needPods []string
	var remove []*corev1.Pod
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		create, rm := c.podsForNode(ctx, node, byNode, ds, hash, p)
		if create {
			needPods = append(needPods, node.Name)
		}
		remove = append(remove, rm...)
	}
	// Unscheduled pods pinned to nodes that are gone can never run.
	for name, pods := range byNode {
		if known[name] {
			continue
		}
		for _, pod := range pods {
			if pod.Spec.NodeName == "" {
				remove = append(remove, pod)
			}
		}
	}
	return c.syncNodes(ctx, ds, remove, needPods, hash)
}

// syncNodes deletes pods and creates one pod per node in needPods, with
// expectations, in slow-start batches.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove []*corev1.Pod, needPods []string, hash string) error {
	logger := klog.FromContext(ctx)
	key := ds.Namespace + "/" + ds.Name
	creates := min(len(needPods), c.burst)
	deletes := min(len(remove), c.burst)
	remove = remove[:deletes]
	deleteKeys := make([]string, 0, deletes)
	for _, p := range remove {
		deleteKeys = append(deleteKeys, controller.PodKey(p))
	}
	c.expectations.Expect(key, creates, deleteKeys)

	var mu sync.Mutex
	var errs []error
	addErr := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	template := podTemplate(ds, hash)
	ref := controller.NewControllerRef(ds, controllerKind)
	next := 0
	attempted, err := slowStart(creates, func() error {
		mu.Lock()
		node := needPods[next]
		next++
		mu.Unlock()
		t := template.DeepCopy()
		t.Spec.Affinity = pinToNode(t.Spec.Affinity, node)
		pod := controller.PodFromTemplate(t, ds.Name, ref)
		_, err := c.podControl.CreatePod(ctx, ds.Namespace, pod, ds)
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Expected to fail; the expectation stays until it expires
			// or the DaemonSet goes away with the namespace.
			return nil
		}
		if err != nil {
			c.expectations.CreationObserved(key)
		}
		return err
	})
	if err != nil {
		addErr(err)
		utilruntime.HandleErrorWithContext(ctx, err, "Failed to create daemon pods", "daemonset", klog.KObj(ds))
	}
	// Creates never attempted after a failed batch will not be observed.
	if skipped := creates - attempted; skipped > 0 {
		logger.V(2).Info("Slow-start failure. Skipping creation of pods", "skippedPods", skipped, "daemonset", klog.KObj(ds))
		c.expectations.LowerCreations(key, skipped)
	}

	var wg sync.WaitGroup
	for _, pod := range remove {
		wg.Go(func() {
			if err := c.podControl.DeletePod(ctx, ds.Namespace, pod.Name, ds); err != nil {
				c.expectations.DeletionObserved(key, controller.PodKey(pod))
				if !apierrors.IsNotFound(err) {
					addErr(err)
				}
			}
		})
	}
	wg.Wait()
	return utilerrors.NewAggregate(errs)
}

// slowStart runs fn count times in doubling batches and stops after a
// batch with a failure. It returns how many calls it made and the first
// error.
func slowStart(count int, fn func() error) (int, error) {
	attempted := 0
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-attempted) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Go(func() {
				if err := fn(); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		attempted += batch
		if len(errCh) > 0 {
			return attempted, <-errCh
		}
	}
	return attempted, nil
}
