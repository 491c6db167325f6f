// Package pvcprotection keeps PersistentVolumeClaims in use from going
// away, as upstream's pvc-protection controller: claims carry the
// kubernetes.io/pvc-protection finalizer, which is removed from a claim
// being deleted once no scheduled pod uses it (checked against the
// informer, then a live list of the namespace's pods). It also keeps the
// Unused condition of bound claims (PersistentVolumeClaimUnusedSinceTime,
// beta in 1.37).
package pvcprotection

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Finalizer is the PVC protection finalizer.
const Finalizer = "kubernetes.io/pvc-protection"

// Controller is the pvc-protection controller; its queue holds claim keys.
type Controller struct {
	client    kubernetes.Interface
	pvcLister corelisters.PersistentVolumeClaimLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
}

// NewController returns the pvc-protection controller.
func NewController(client kubernetes.Interface, pvcInformer coreinformers.PersistentVolumeClaimInformer, podInformer coreinformers.PodInformer) (*Controller, error) {
	c := &Controller{
		client:    client,
		pvcLister: pvcInformer.Lister(),
		podLister: podInformer.Lister(),
		synced:    []cache.InformerSynced{pvcInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		queue:     controller.NewQueue("pvcprotection"),
	}
	enqueue := func(obj interface{}) {
		if key, err := controller.KeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := pvcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volume claims: %w", err)
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.podChanged(nil, obj) },
		UpdateFunc: func(old, cur interface{}) {
			c.podChanged(old, cur)
		},
		DeleteFunc: func(obj interface{}) { c.podChanged(nil, controller.ObjectFromTombstone(obj)) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	return c, nil
}

// Run protects claims until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, "pvcprotection", c.queue, workers, c.sync, c.synced...)
}

// podChanged queues the claims a pod uses (the old pod's too, when a pod
// of the same name replaced it).
func (c *Controller) podChanged(old, cur interface{}) {
	pod, ok := cur.(*corev1.Pod)
	if !ok {
		return
	}
	c.queueClaimsOf(pod)
	if o, ok := old.(*corev1.Pod); ok && o.UID != pod.UID {
		c.queueClaimsOf(o)
	}
}

func (c *Controller) queueClaimsOf(pod *corev1.Pod) {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case v.PersistentVolumeClaim != nil:
			c.queue.Add(pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			c.queue.Add(pod.Namespace + "/" + ephemeral.VolumeClaimName(pod, v))
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pvc, err := c.pvcLister.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp == nil && pvc.Status.Phase == corev1.ClaimBound {
		used, err := c.usedByCachedPod(pvc, usesForUnused)
		if err != nil {
			return err
		}
		if err := c.updateUnusedCondition(ctx, pvc, used); err != nil {
			return err
		}
	}
	hasFinalizer := slices.Contains(pvc.Finalizers, Finalizer)
	if pvc.DeletionTimestamp != nil && hasFinalizer {
		used, err := c.usedByCachedPod(pvc, usesForDeletion)
		if err != nil {
			return err
		}
		if !used {
			// The cache may be behind: ask the API before letting go.
			if used, err = c.usedByLivePod(ctx, pvc); err != nil {
				return err
			}
		}
		if !used {
			return c.removeFinalizer(ctx, pvc)
		}
		klog.FromContext(ctx).V(4).Info("Keeping PVC because it is being used", "PVC", klog.KObj(pvc))
		return nil
	}
	if pvc.DeletionTimestamp == nil && !hasFinalizer {
		return c.addFinalizer(ctx, pvc)
	}
	return nil
}

// usesForDeletion: a scheduled pod that mounts the claim (a shut-down pod
// no longer holds its ephemeral volumes).
func usesForDeletion(pod *corev1.Pod, pvc *corev1.PersistentVolumeClaim) bool {
	if pod.Spec.NodeName == "" {
		return false
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
			return true
		}
		if !podIsShutDown(pod) && v.Ephemeral != nil && ephemeral.VolumeClaimName(pod, v) == pvc.Name && ephemeral.VolumeIsForPod(pod, pvc) == nil {
			return true
		}
	}
	return false
}

// usesForUnused: any pod that is not terminated and references the claim.
func usesForUnused(pod *corev1.Pod, pvc *corev1.PersistentVolumeClaim) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name ||
			v.Ephemeral != nil && ephemeral.VolumeClaimName(pod, v) == pvc.Name && ephemeral.VolumeIsForPod(pod, pvc) == nil {
			return true
		}
	}
	return false
}

// podIsShutDown: deleted with a zero grace period, by the kubelet after
// unmounting or by force.
func podIsShutDown(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0
}

func (c *Controller) usedByCachedPod(pvc *corev1.PersistentVolumeClaim, uses func(*corev1.Pod, *corev1.PersistentVolumeClaim) bool) (bool, error) {
	pods, err := c.podLister.Pods(pvc.Namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		if uses(p, pvc) {
			return true, nil
		}
	}
	return false, nil
}

func (c *Controller) usedByLivePod(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (bool, error) {
	pods, err := c.client.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("live list of pods failed: %w", err)
	}
	for i := range pods.Items {
		if usesForDeletion(&pods.Items[i], pvc) {
			return true, nil
		}
	}
	return false, nil
}

func (c *Controller) addFinalizer(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	p := pvc.DeepCopy()
	p.Finalizers = append(p.Finalizers, Finalizer)
	_, err := c.client.CoreV1().PersistentVolumeClaims(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("add protection finalizer to PVC %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func (c *Controller) removeFinalizer(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	p := pvc.DeepCopy()
	p.Finalizers = slices.DeleteFunc(p.Finalizers, func(f string) bool { return f == Finalizer })
	_, err := c.client.CoreV1().PersistentVolumeClaims(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove protection finalizer from PVC %s/%s: %w", p.Namespace, p.Name, err)
	}
	klog.FromContext(ctx).V(3).Info("Removed protection finalizer from PVC", "PVC", klog.KObj(pvc))
	return nil
}

// updateUnusedCondition sets Unused=True (NoPodsUsingPVC) or False
// (PodUsingPVC) when it changes.
func (c *Controller) updateUnusedCondition(ctx context.Context, pvc *corev1.PersistentVolumeClaim, used bool) error {
	var existing *corev1.PersistentVolumeClaimCondition
	for i := range pvc.Status.Conditions {
		if pvc.Status.Conditions[i].Type == corev1.PersistentVolumeClaimUnused {
			existing = &pvc.Status.Conditions[i]
		}
	}
	status, reason, message := corev1.ConditionTrue, "NoPodsUsingPVC", "No pods are currently referencing this PVC"
	if used {
		if existing != nil && existing.Status == corev1.ConditionFalse {
			return nil
		}
		status, reason, message = corev1.ConditionFalse, "PodUsingPVC", "A pod is currently referencing this PVC"
	} else if existing != nil && existing.Status == corev1.ConditionTrue {
		return nil
	}
	p := pvc.DeepCopy()
	cond := corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimUnused, Status: status,
		LastTransitionTime: metav1.Now(), Reason: reason, Message: message}
	replaced := false
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PersistentVolumeClaimUnused {
			p.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	_, err := c.client.CoreV1().PersistentVolumeClaims(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}
