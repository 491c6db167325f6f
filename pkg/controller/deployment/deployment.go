// Package deployment rolls Deployments out through ReplicaSets: it creates
// a ReplicaSet per pod template (named and labelled with the template's
// pod-template-hash), scales new and old ReplicaSets within maxSurge and
// maxUnavailable (or all down, then up, for Recreate), numbers revisions
// in deployment.kubernetes.io/revision, prunes old ReplicaSets beyond
// revisionHistoryLimit, and reports the Progressing and Available
// conditions with upstream's reasons, which kubectl rollout reads.
package deployment

import (
	"context"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/skiff-project/skiff/pkg/controller"
)

// maxRetries is how often a failing Deployment is retried with back-off
// before it waits for the next event.
const maxRetries = 15

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(ctx context.Context)

	dLister    appslisters.DeploymentLister
	rsLister   appslisters.ReplicaSetLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	queue workqueue.TypedRateLimitingInterface[string]
	clock clock.PassiveClock
}

// NewController returns the Deployment controller.
func NewController(client kubernetes.Interface, dInformer appsinformers.DeploymentInformer, rsInformer appsinformers.ReplicaSetInformer, podInformer coreinformers.PodInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "deployment-controller")
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: startEvents,
		dLister:     dInformer.Lister(),
		rsLister:    rsInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		queue:       controller.NewQueue("deployment"),
		clock:       clock.RealClock{},
	}
	dHandler, err := dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueObject,
		UpdateFunc: func(_, cur interface{}) { c.enqueueObject(cur) },
		DeleteFunc: c.enqueueObject,
	})
	if err != nil {
		return nil, fmt.Errorf("watch deployments: %w", err)
	}
	rsHandler, err := rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	if err != nil {
		return nil, fmt.Errorf("watch replicasets: %w", err)
	}
	if err := controller.AddPodControllerIndexer(podInformer.Informer()); err != nil {
		return nil, fmt.Errorf("index pods: %w", err)
	}
	podHandler, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{dHandler.HasSynced, rsHandler.HasSynced, podHandler.HasSynced}
	return c, nil
}

// Run syncs Deployments with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "deployment", c.queue, workers, c.syncWithRetries, c.synced...)
}

// syncWithRetries gives up on a key after maxRetries failures (it comes
// back with the next event), like upstream.
func (c *Controller) syncWithRetries(ctx context.Context, key string) error {
	err := c.sync(ctx, key)
	if err == nil || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if c.queue.NumRequeues(key) >= maxRetries {
		utilruntime.HandleErrorWithContext(ctx, err, "Dropping deployment out of the queue", "key", key)
		c.queue.Forget(key)
		return nil
	}
	return err
}

func (c *Controller) enqueueObject(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueue(d *appsv1.Deployment) {
	c.queue.Add(d.Namespace + "/" + d.Name)
}

func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsSelecting returns the Deployments whose selector matches an
// orphan ReplicaSet's labels.
func (c *Controller) deploymentsSelecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj interface{}) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsSelecting(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, curObj interface{}) {
	oldRS, curRS := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curRS), metav1.GetControllerOfNoCopy(oldRS)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(curRS.Labels, oldRS.Labels) {
		for _, d := range c.deploymentsSelecting(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	rs, ok := controller.ObjectFromTombstone(obj).(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
	}
}

// deletePod wakes a Recreate Deployment when an old pod is gone: it waits
// for all of them before creating new ones.
func (c *Controller) deletePod(obj interface{}) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dRef := metav1.GetControllerOfNoCopy(rs)
	if dRef == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, dRef); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// claimReplicaSets adopts and releases ReplicaSets by the selector.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	m := &controller.RefManager{
		Controller: d,
		Kind:       controllerKind,
		Selector:   selector,
		CanAdopt: controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
			fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			if fresh.UID != d.UID {
				return nil, fmt.Errorf("original Deployment %v/%v is gone: got uid %v, wanted %v", d.Namespace, d.Name, fresh.UID, d.UID)
			}
			return fresh, nil
		}),
	}
	return m.ClaimReplicaSets(ctx, all, func(ctx context.Context, namespace, name string, patch []byte) error {
		_, err := c.client.AppsV1().ReplicaSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
}

// podsByReplicaSet returns the pods controlled by each ReplicaSet.
func (c *Controller) podsByReplicaSet(sets []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	out := make(map[types.UID][]*corev1.Pod, len(sets))
	for _, rs := range sets {
		pods, err := controller.PodsOfOwner(c.podIndexer, rs, "ReplicaSet", false)
		if err != nil {
			return nil, err
		}
		out[rs.UID] = pods
	}
	return out, nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(2).Info("Deployment has been deleted", "deployment", klog.KRef(namespace, name))
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()

	if reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, _ = c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
		return nil
	}

	sets, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, sets)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, sets)
	}
	if rollbackTo(d) != nil {
		return c.rollback(ctx, d, sets)
	}
	scaling, err := c.isScalingEvent(ctx, d, sets)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, sets)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		pods, err := c.podsByReplicaSet(sets)
		if err != nil {
			return err
		}
		return c.rolloutRecreate(ctx, d, sets, pods)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, sets)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}
