// Package pvprotection keeps bound PersistentVolumes from going away, as
// upstream's pv-protection controller: volumes carry the
// kubernetes.io/pv-protection finalizer, removed from a volume being
// deleted once it is no longer Bound.
package pvprotection

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Finalizer is the PV protection finalizer.
const Finalizer = "kubernetes.io/pv-protection"

// Controller is the pv-protection controller; its queue holds volume
// names.
type Controller struct {
	client   kubernetes.Interface
	pvLister corelisters.PersistentVolumeLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// NewController returns the pv-protection controller.
func NewController(client kubernetes.Interface, pvInformer coreinformers.PersistentVolumeInformer) (*Controller, error) {
	c := &Controller{
		client:   client,
		pvLister: pvInformer.Lister(),
		synced:   pvInformer.Informer().HasSynced,
		queue:    controller.NewQueue("pvprotection"),
	}
	enqueue := func(obj interface{}) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			c.queue.Add(pv.Name)
		}
	}
	if _, err := pvInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volumes: %w", err)
	}
	return c, nil
}

// Run protects volumes until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, "pvprotection", c.queue, workers, c.sync, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	pv, err := c.pvLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(pv.Finalizers, Finalizer)
	switch {
	case pv.DeletionTimestamp != nil && has:
		if pv.Status.Phase == corev1.VolumeBound {
			return nil // still in use
		}
		p := pv.DeepCopy()
		p.Finalizers = slices.DeleteFunc(p.Finalizers, func(f string) bool { return f == Finalizer })
		if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove protection finalizer from PV %s: %w", name, err)
		}
		klog.FromContext(ctx).V(3).Info("Removed protection finalizer from PV", "PV", name)
	case pv.DeletionTimestamp == nil && !has:
		p := pv.DeepCopy()
		p.Finalizers = append(p.Finalizers, Finalizer)
		if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("add protection finalizer to PV %s: %w", name, err)
		}
	}
	return nil
}
