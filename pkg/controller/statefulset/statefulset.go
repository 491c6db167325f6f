// Package statefulset runs StatefulSets: pods with stable names
// (<set>-<ordinal>), hostnames and claims from volumeClaimTemplates,
// created in order (OrderedReady) or all at once (Parallel), deleted from
// the highest ordinal, rolled to new revisions from the highest ordinal
// down to the partition within maxUnavailable, with ControllerRevisions
// for history and the PVC retention policy applied through owner
// references.
package statefulset

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
	"github.com/skiff-project/skiff/pkg/controller/history"
)

// Controller is the StatefulSet controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(ctx context.Context)
	pods        *podControl
	history     *history.History

	setLister  appslisters.StatefulSetLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
	clock clock.PassiveClock
}

// NewController returns the StatefulSet controller.
func NewController(client kubernetes.Interface, setInformer appsinformers.StatefulSetInformer, podInformer coreinformers.PodInformer, pvcInformer coreinformers.PersistentVolumeClaimInformer, revInformer appsinformers.ControllerRevisionInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "statefulset-controller")
	if err := history.AddControllerIndexer(revInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index controller revisions: %w", err)
	}
	if err := controller.AddPodControllerIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods: %w", err)
	}
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: startEvents,
		pods:        &podControl{client: client, podLister: podInformer.Lister(), claimLister: pvcInformer.Lister(), recorder: recorder},
		history:     &history.History{Client: client, Lister: revInformer.Lister(), Indexer: revInformer.Informer().GetIndexer()},
		setLister:   setInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		queue:       controller.NewQueue("statefulset"),
		clock:       clock.RealClock{},
	}
	podHandler, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	setHandler, err := setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueObject,
		UpdateFunc: func(oldObj, curObj interface{}) {
			oldSet, curSet := oldObj.(*appsv1.StatefulSet), curObj.(*appsv1.StatefulSet)
			if oldSet.Status.Replicas != curSet.Status.Replicas {
				klog.V(4).InfoS("Observed updated replica count for StatefulSet", "statefulSet", klog.KObj(curSet), "oldReplicas", oldSet.Status.Replicas, "newReplicas", curSet.Status.Replicas)
			}
			c.enqueueObject(curObj)
		},
		DeleteFunc: c.enqueueObject,
	})
	if err != nil {
		return nil, fmt.Errorf("watch statefulsets: %w", err)
	}
	// Claims and revisions are read from their caches only.
	pvcSynced := pvcInformer.Informer().HasSynced
	revSynced := revInformer.Informer().HasSynced
	c.synced = []cache.InformerSynced{podHandler.HasSynced, setHandler.HasSynced, pvcSynced, revSynced}
	return c, nil
}

// Run syncs StatefulSets with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "statefulset", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueueObject(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueue(set *appsv1.StatefulSet) { c.queue.Add(set.Namespace + "/" + set.Name) }

func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	set, err := c.setLister.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsSelecting returns the StatefulSets whose selector matches an orphan pod.
func (c *Controller) setsSelecting(pod *corev1.Pod) []*appsv1.StatefulSet {
	sets, err := c.setLister.GetPodStatefulSets(pod)
	if err != nil {
		return nil
	}
	if len(sets) > 1 {
		utilruntime.HandleError(fmt.Errorf("more than one StatefulSet is selecting pods with labels: %+v", pod.Labels))
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
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsSelecting(pod) {
		c.enqueue(set)
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	oldPod, curPod := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(oldPod.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(curPod.Namespace, curRef)
		if set == nil {
			return
		}
		c.enqueue(set)
		if !podutil.IsPodReady(oldPod) && podutil.IsPodReady(curPod) && set.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(set.Namespace+"/"+set.Name, time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, set := range c.setsSelecting(curPod) {
			c.enqueue(set)
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
	}
}

func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(ctx context.Context) error {
	return controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != set.UID {
			return nil, fmt.Errorf("original StatefulSet %v/%v is gone: got uid %v, wanted %v", set.Namespace, set.Name, fresh.UID, set.UID)
		}
		return fresh, nil
	})
}

func (c *Controller) listRevisions(set *appsv1.StatefulSet) ([]*appsv1.ControllerRevision, error) {
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.history.List(set, controllerKind, selector)
	if err != nil {
		return nil, err
	}
	// Revisions controlled by another set are not ours.
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref == nil || ref.UID == set.UID {
			out = append(out, r)
		}
	}
	return out, nil
}

// adoptOrphanRevisions adopts matching revisions without a controller.
func (c *Controller) adoptOrphanRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) error {
	revisions, err := c.listRevisions(set)
	if err != nil {
		return err
	}
	var orphans []*appsv1.ControllerRevision
	for _, r := range revisions {
		if metav1.GetControllerOfNoCopy(r) == nil {
			orphans = append(orphans, r)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if err := c.canAdopt(set)(ctx); err != nil {
		return fmt.Errorf("can't adopt ControllerRevisions: %w", err)
	}
	m := &controller.RefManager{Controller: set, Kind: controllerKind, Selector: selector}
	_, err = m.ClaimControllerRevisions(ctx, orphans, c.history.Patch)
	return err
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	set, err := c.setLister.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		klog.FromContext(ctx).V(2).Info("StatefulSet has been deleted", "key", key)
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Error converting StatefulSet selector", "key", key)
		return nil
	}
	if err := c.adoptOrphanRevisions(ctx, set, selector); err != nil {
		return err
	}
	all, err := controller.PodsOfOwner(c.podIndexer, set, controllerKind.Kind, true)
	if err != nil {
		return err
	}
	m := &controller.RefManager{Controller: set, Kind: controllerKind, Selector: selector, CanAdopt: c.canAdopt(set)}
	pods, err := m.ClaimPods(ctx, all, func(ctx context.Context, namespace, name string, patch []byte) error {
		return controller.RealPodControl{Client: c.client, Recorder: c.recorder}.PatchPod(ctx, namespace, name, patch)
	}, func(pod *corev1.Pod) bool { return isMemberOf(set, pod) })
	if err != nil {
		return err
	}
	now := c.clock.Now()
	status, err := c.updateStatefulSet(ctx, set, pods, now)
	if err != nil {
		return err
	}
	if set.Spec.MinReadySeconds > 0 && status != nil && status.ReadyReplicas != status.AvailableReplicas {
		next := time.Duration(set.Spec.MinReadySeconds) * time.Second
		if d := controller.NextAvailabilityCheck(pods, set.Spec.MinReadySeconds, c.clock.Now()); d != nil {
			next = *d
		}
		c.queue.AddAfter(key, next)
	}
	return nil
}
