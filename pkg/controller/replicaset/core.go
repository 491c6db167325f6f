// Package replicaset keeps the number of pods of every ReplicaSet at its
// spec.replicas, and holds the core shared with the ReplicationController
// controller (pkg/controller/replication): pod creation in slow-start
// batches, deletion of the least valuable pods first, adoption and release
// of pods by selector, expectations, and status.
package replicaset

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// BurstReplicas caps the pods created or deleted in one sync (upstream's
// kube-controller-manager default).
const BurstReplicas = 500

// slowStartInitialBatch is the first batch of pod creates; each successful
// batch doubles the next, so a failing create (quota) costs few calls.
const slowStartInitialBatch = 1

// statusUpdateRetries is how often a conflicting status write is retried
// with a fresh copy before the key is requeued.
const statusUpdateRetries = 1

// Replicated is the view of a ReplicaSet or ReplicationController the core
// works on.
type Replicated struct {
	metav1.Object
	// Original is the cached object itself, for events.
	Original        runtime.Object
	Replicas        int32
	MinReadySeconds int32
	Selector        labels.Selector
	// SelectorErr is set when the object's selector cannot be parsed.
	SelectorErr error
	Template    *corev1.PodTemplateSpec
	Status      appsv1.ReplicaSetStatus
}

// Kind adapts one replicated kind to the core.
type Kind interface {
	GroupVersionKind() schema.GroupVersionKind
	// Informer is the kind's shared informer; the core watches it.
	Informer() cache.SharedIndexInformer
	// View converts an object of the informer to a Replicated.
	View(obj interface{}) (*Replicated, bool)
	// Get returns the cached object.
	Get(namespace, name string) (*Replicated, error)
	// List returns the cached objects of a namespace.
	List(namespace string) ([]*Replicated, error)
	// GetLive reads the object from the API server.
	GetLive(ctx context.Context, namespace, name string) (*Replicated, error)
	// UpdateStatus writes r.Status through the status subresource.
	UpdateStatus(ctx context.Context, r *Replicated) (*Replicated, error)
	// Siblings returns the objects with the same controller as r (the
	// ReplicaSets of one Deployment), r included; nil if r has none.
	Siblings(r *Replicated) []*Replicated
	// ReportsTerminating is whether status.terminatingReplicas exists.
	ReportsTerminating() bool
}

// Core is the replica controller for one Kind.
type Core struct {
	kind       Kind
	gvk        schema.GroupVersionKind
	name       string
	podControl controller.PodControl
	burst      int

	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	expectations *controller.Expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	clock        clock.PassiveClock
	startEvents  func(ctx context.Context)
}

// NewCore wires the core to the kind's and the pod informers. name is the
// queue and log name ("replicaset", "replicationmanager").
func NewCore(kind Kind, podInformer coreinformers.PodInformer, podControl controller.PodControl, startEvents func(ctx context.Context), name string, burst int) (*Core, error) {
	c := &Core{
		kind:         kind,
		gvk:          kind.GroupVersionKind(),
		name:         name,
		podControl:   podControl,
		burst:        burst,
		podLister:    podInformer.Lister(),
		podIndexer:   podInformer.Informer().GetIndexer(),
		expectations: controller.NewExpectations(),
		queue:        controller.NewQueue(name),
		clock:        clock.RealClock{},
		startEvents:  startEvents,
	}
	ownerHandler, err := kind.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueObject,
		UpdateFunc: c.updateOwner,
		DeleteFunc: c.deleteOwner,
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", c.gvk.Kind, err)
	}
	if err := controller.AddPodControllerIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods: %w", err)
	}
	podHandler, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{ownerHandler.HasSynced, podHandler.HasSynced}
	return c, nil
}

// Run syncs with the given number of workers until ctx ends.
func (c *Core) Run(ctx context.Context, workers int) {
	if c.startEvents != nil {
		c.startEvents(ctx)
	}
	controller.RunWorkers(ctx, c.name, c.queue, workers, c.sync, c.synced...)
}

func (c *Core) enqueueObject(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Core) enqueue(r *Replicated) {
	c.queue.Add(r.GetNamespace() + "/" + r.GetName())
}

func (c *Core) updateOwner(oldObj, newObj interface{}) {
	oldR, ok1 := c.kind.View(oldObj)
	newR, ok2 := c.kind.View(newObj)
	if ok1 && ok2 && oldR.GetUID() != newR.GetUID() {
		// Deleted and re-created between two list results: the old
		// object's expectations are void.
		c.deleteOwner(cache.DeletedFinalStateUnknown{Key: oldR.GetNamespace() + "/" + oldR.GetName(), Obj: oldObj})
	}
	c.enqueueObject(newObj)
}

func (c *Core) deleteOwner(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the owner named by ref if it is of our kind
// and still the same object.
func (c *Core) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *Replicated {
	if ref.Kind != c.gvk.Kind {
		return nil
	}
	r, err := c.kind.Get(namespace, ref.Name)
	if err != nil || r.GetUID() != ref.UID {
		return nil
	}
	return r
}

// ownersSelecting returns the owners whose selector matches an orphan pod.
func (c *Core) ownersSelecting(pod *corev1.Pod) []*Replicated {
	all, err := c.kind.List(pod.Namespace)
	if err != nil {
		return nil
	}
	var out []*Replicated
	for _, r := range all {
		if r.SelectorErr != nil || r.Selector.Empty() {
			continue
		}
		if r.Selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, r)
		}
	}
	if len(out) > 1 {
		utilruntime.HandleError(fmt.Errorf("user error! more than one %v is selecting pods with labels: %+v", c.gvk.Kind, pod.Labels))
	}
	return out
}

func (c *Core) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen first when already being deleted (e.g. after a restart).
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		r := c.resolveControllerRef(pod.Namespace, ref)
		if r == nil {
			return
		}
		key := r.GetNamespace() + "/" + r.GetName()
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	// An orphan: wake every owner that could adopt it.
	for _, r := range c.ownersSelecting(pod) {
		c.enqueue(r)
	}
}

func (c *Core) updatePod(oldObj, newObj interface{}) {
	oldPod, curPod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if curPod.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(curPod.Labels, oldPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// A graceful delete shows as an update first; count it as the
		// deletion so that the owner replaces the pod right away.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if r := c.resolveControllerRef(oldPod.Namespace, oldRef); r != nil {
			c.enqueue(r)
		}
	}
	if curRef != nil {
		r := c.resolveControllerRef(curPod.Namespace, curRef)
		if r == nil {
			return
		}
		c.enqueue(r)
		// A pod that just became ready becomes available after
		// minReadySeconds: look again then.
		if !podutil.IsPodReady(oldPod) && podutil.IsPodReady(curPod) && r.MinReadySeconds > 0 {
			c.queue.AddAfter(r.GetNamespace()+"/"+r.GetName(), time.Duration(r.MinReadySeconds)*time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, r := range c.ownersSelecting(curPod) {
			c.enqueue(r)
		}
	}
}

func (c *Core) deletePod(obj interface{}) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("unexpected object in pod delete event: %#v", obj))
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	r := c.resolveControllerRef(pod.Namespace, ref)
	if r == nil {
		return
	}
	key := r.GetNamespace() + "/" + r.GetName()
	c.expectations.DeletionObserved(key, controller.PodKey(pod))
	c.queue.Add(key)
}

// sync reconciles one owner: claims its pods, creates or deletes pods when
// its expectations are met, and writes its status.
func (c *Core) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	r, err := c.kind.Get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if r.SelectorErr != nil {
		utilruntime.HandleError(fmt.Errorf("error converting pod selector to selector for %s %v/%v: %w", c.gvk.Kind, namespace, name, r.SelectorErr))
		return nil
	}
	needsSync := c.expectations.Satisfied(key)

	all, err := controller.PodsOfOwner(c.podIndexer, r, c.gvk.Kind, true)
	if err != nil {
		return err
	}
	active, err := c.claimPods(ctx, r, controller.FilterActivePods(all))
	if err != nil {
		return err
	}
	var terminating []*corev1.Pod
	if c.kind.ReportsTerminating() {
		terminating = controller.FilterClaimedPods(r, r.Selector, controller.FilterTerminatingPods(all))
	}

	var manageErr error
	if needsSync && r.GetDeletionTimestamp() == nil {
		manageErr = c.manageReplicas(ctx, active, r)
	}
	now := c.clock.Now()
	newStatus := calculateStatus(r, active, terminating, c.kind.ReportsTerminating(), manageErr, now)
	updated, err := c.updateStatus(ctx, r, newStatus)
	if err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	// A pod that is ready but not yet available needs another look once
	// minReadySeconds passed, even if no event arrives.
	if updated.MinReadySeconds > 0 && updated.Status.ReadyReplicas != updated.Status.AvailableReplicas {
		next := time.Duration(updated.MinReadySeconds) * time.Second
		if d := controller.NextAvailabilityCheck(active, updated.MinReadySeconds, c.clock.Now()); d != nil {
			next = *d
		}
		logger.V(4).Info("Checking availability again", "key", key, "after", next)
		c.queue.AddAfter(key, next)
	}
	return nil
}

func (c *Core) claimPods(ctx context.Context, r *Replicated, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	m := &controller.RefManager{
		Controller: r,
		Kind:       c.gvk,
		Selector:   r.Selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
			fresh, err := c.kind.GetLive(ctx, r.GetNamespace(), r.GetName())
			if err != nil {
				return nil, err
			}
			if fresh.GetUID() != r.GetUID() {
				return nil, fmt.Errorf("original %v %v/%v is gone: got uid %v, wanted %v", c.gvk.Kind, r.GetNamespace(), r.GetName(), fresh.GetUID(), r.GetUID())
			}
			return fresh, nil
		}),
	}
	return m.ClaimPods(ctx, pods, c.podControl.PatchPod)
}

// manageReplicas creates or deletes pods so that active matches the
// desired count, at most burst at a time.
func (c *Core) manageReplicas(ctx context.Context, active []*corev1.Pod, r *Replicated) error {
	logger := klog.FromContext(ctx)
	key := r.GetNamespace() + "/" + r.GetName()
	diff := len(active) - int(r.Replicas)
	switch {
	case diff < 0:
		if r.Template == nil {
			return fmt.Errorf("%s %s has no pod template", c.gvk.Kind, key)
		}
		n := min(-diff, c.burst)
		c.expectations.ExpectCreations(key, n)
		logger.V(2).Info("Too few replicas", "kind", c.gvk.Kind, "object", klog.KObj(r), "need", r.Replicas, "creating", n)
		ref := controller.NewControllerRef(r, c.gvk)
		created, err := SlowStartBatch(n, slowStartInitialBatch, func() error {
			pod := controller.PodFromTemplate(r.Template, r.GetName(), ref)
			_, err := c.podControl.CreatePod(ctx, r.GetNamespace(), pod, r.Original)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// Nothing can be created in a terminating namespace.
				return nil
			}
			return err
		})
		// Creates never attempted will not be observed.
		for i := 0; i < n-created; i++ {
			c.expectations.CreationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, c.burst)
		logger.V(2).Info("Too many replicas", "kind", c.gvk.Kind, "object", klog.KObj(r), "need", r.Replicas, "deleting", n)
		victims := podsToDelete(active, c.relatedPods(r), n)
		keys := make([]string, 0, len(victims))
		for _, p := range victims {
			keys = append(keys, controller.PodKey(p))
		}
		c.expectations.ExpectDeletions(key, keys)
		errCh := make(chan error, n)
		var wg sync.WaitGroup
		for _, p := range victims {
			wg.Go(func() {
				if err := c.podControl.DeletePod(ctx, r.GetNamespace(), p.Name, r.Original); err != nil {
					// The informer will not see this deletion.
					c.expectations.DeletionObserved(key, controller.PodKey(p))
					if !apierrors.IsNotFound(err) {
						errCh <- err
					}
				}
			})
		}
		wg.Wait()
		select {
		case err := <-errCh:
			return err
		default:
		}
	}
	return nil
}

// relatedPods are the pods of every owner sharing r's controller (the
// ReplicaSets of one Deployment), used to spread deletions over nodes.
func (c *Core) relatedPods(r *Replicated) []*corev1.Pod {
	var out []*corev1.Pod
	seen := map[string]bool{}
	for _, sib := range c.kind.Siblings(r) {
		if sib.SelectorErr != nil {
			continue
		}
		pods, err := c.podLister.Pods(sib.GetNamespace()).List(sib.Selector)
		if err != nil {
			continue
		}
		for _, p := range pods {
			if !seen[string(p.UID)] {
				seen[string(p.UID)] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// podsToDelete picks the n pods to delete: unscheduled, pending, not ready
// and doubled-up pods first.
func podsToDelete(active, related []*corev1.Pod, n int) []*corev1.Pod {
	if n < len(active) {
		perNode := map[string]int{}
		for _, p := range related {
			if controller.IsPodActive(p) {
				perNode[p.Spec.NodeName]++
			}
		}
		ranks := make([]int, len(active))
		for i, p := range active {
			ranks[i] = perNode[p.Spec.NodeName]
		}
		sorted := append([]*corev1.Pod{}, active...)
		sort.Sort(controller.PodsForDeletion{Pods: sorted, Rank: ranks, Now: metav1.Now()})
		return sorted[:n]
	}
	return active[:n]
}

// SlowStartBatch calls fn count times, in batches that start at initial
// and double after each fully successful batch; calls within a batch run
// concurrently. It stops after the first batch with a failure and returns
// the number of successful calls and the first error.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
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
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}

// SyncKey reconciles one object now (for tests of the kinds built on Core).
func (c *Core) SyncKey(ctx context.Context, key string) error { return c.sync(ctx, key) }
