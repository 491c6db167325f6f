// Package ephemeral creates the PersistentVolumeClaim of every generic
// ephemeral volume, as upstream's ephemeral-volume controller: claim
// <pod>-<volume> from the volume's claim template, controlled by the pod
// (so that the garbage collector deletes it with the pod). A claim of
// that name the pod does not own is an error, reported on the pod.
package ephemeral

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

// podClaimIndex indexes pods by the namespace/name of the ephemeral
// claims they use.
const podClaimIndex = "ephemeral-pod-pvc"

// Controller is the ephemeral volume controller; its queue holds pod keys.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	pvcLister   corelisters.PersistentVolumeClaimLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
}

// NewController returns the ephemeral volume controller.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, pvcInformer coreinformers.PersistentVolumeClaimInformer) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "ephemeral_volume")
	c := &Controller{
		client:      client,
		recorder:    recorder,
		startEvents: start,
		podLister:   podInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		pvcLister:   pvcInformer.Lister(),
		synced:      []cache.InformerSynced{podInformer.Informer().HasSynced, pvcInformer.Informer().HasSynced},
		queue:       controller.NewQueue("ephemeral_volume"),
	}
	if _, ok := podInformer.Informer().GetIndexer().GetIndexers()[podClaimIndex]; !ok {
		if err := podInformer.Informer().AddIndexers(cache.Indexers{podClaimIndex: func(obj interface{}) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, nil
			}
			var keys []string
			for i := range pod.Spec.Volumes {
				if pod.Spec.Volumes[i].Ephemeral != nil {
					keys = append(keys, pod.Namespace+"/"+ephemeral.VolumeClaimName(pod, &pod.Spec.Volumes[i]))
				}
			}
			return keys, nil
		}}); err != nil {
			return nil, fmt.Errorf("index pods by ephemeral claim: %w", err)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePod,
		UpdateFunc: func(_, cur interface{}) { c.enqueuePod(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	// A deleted claim is recreated while its pod needs it.
	if _, err := pvcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			pvc, ok := controller.ObjectFromTombstone(obj).(*corev1.PersistentVolumeClaim)
			if !ok {
				return
			}
			pods, _ := c.podIndexer.ByIndex(podClaimIndex, pvc.Namespace+"/"+pvc.Name)
			for _, p := range pods {
				c.enqueuePod(p)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volume claims: %w", err)
	}
	return c, nil
}

// Run creates claims until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "ephemeral_volume", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueuePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp != nil {
		return
	}
	for _, v := range pod.Spec.Volumes {
		if v.Ephemeral != nil {
			c.queue.Add(pod.Namespace + "/" + pod.Name)
			return
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
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
	if pod.DeletionTimestamp != nil {
		return nil
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := c.ensureClaim(ctx, pod, v); err != nil {
			c.recorder.Event(pod, corev1.EventTypeWarning, "FailedBinding", fmt.Sprintf("ephemeral volume %s: %v", v.Name, err))
			return fmt.Errorf("pod %s, ephemeral volume %s: %w", key, v.Name, err)
		}
	}
	return nil
}

func (c *Controller) ensureClaim(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) error {
	if v.Ephemeral == nil || v.Ephemeral.VolumeClaimTemplate == nil {
		return nil
	}
	name := ephemeral.VolumeClaimName(pod, v)
	pvc, err := c.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err == nil {
		return ephemeral.VolumeIsForPod(pod, pvc)
	}
	tmpl := v.Ephemeral.VolumeClaimTemplate
	pvc = &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
			Annotations: tmpl.Annotations,
			Labels:      tmpl.Labels,
		},
		Spec: tmpl.Spec,
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create PVC %s: %w", name, err)
	}
	return nil
}
