// Package vacprotection keeps VolumeAttributesClasses in use from going
// away, as upstream's volumeattributesclass-protection controller: classes
// carry the kubernetes.io/vac-protection finalizer (admission adds it at
// create), removed from a class being deleted once no PersistentVolume or
// PersistentVolumeClaim refers to it.
package vacprotection

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller"
)

// Finalizer is the VolumeAttributesClass protection finalizer.
const Finalizer = "kubernetes.io/vac-protection"

// classIndex indexes volumes and claims by the classes they refer to.
const classIndex = "volumeAttributesClass"

// Controller is the volumeattributesclass-protection controller; its
// queue holds class names.
type Controller struct {
	client    kubernetes.Interface
	vacLister storagelisters.VolumeAttributesClassLister
	// pvIndex and pvcIndex answer "who uses this class" by classIndex.
	pvIndex, pvcIndex cache.Indexer
	synced            []cache.InformerSynced
	queue             workqueue.TypedRateLimitingInterface[string]
}

// NewController returns the volumeattributesclass-protection controller.
func NewController(client kubernetes.Interface, vacs storageinformers.VolumeAttributesClassInformer,
	pvs coreinformers.PersistentVolumeInformer, pvcs coreinformers.PersistentVolumeClaimInformer) (*Controller, error) {
	byClass := cache.Indexers{classIndex: func(obj interface{}) ([]string, error) { return classesOf(obj), nil }}
	if err := pvs.Informer().AddIndexers(byClass); err != nil {
		return nil, fmt.Errorf("index persistent volumes by class: %w", err)
	}
	if err := pvcs.Informer().AddIndexers(byClass); err != nil {
		return nil, fmt.Errorf("index persistent volume claims by class: %w", err)
	}
	c := &Controller{
		client:    client,
		vacLister: vacs.Lister(),
		pvIndex:   pvs.Informer().GetIndexer(),
		pvcIndex:  pvcs.Informer().GetIndexer(),
		synced:    []cache.InformerSynced{vacs.Informer().HasSynced, pvs.Informer().HasSynced, pvcs.Informer().HasSynced},
		queue:     controller.NewQueue("vacprotection"),
	}
	enqueueClass := func(obj interface{}) {
		if vac, ok := obj.(*storagev1.VolumeAttributesClass); ok {
			c.queue.Add(vac.Name)
		}
	}
	if _, err := vacs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueClass,
		UpdateFunc: func(_, cur interface{}) { enqueueClass(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch volume attributes classes: %w", err)
	}
	// A volume or claim that stops using a class may free it.
	enqueueUsed := func(obj interface{}) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		for _, name := range classesOf(obj) {
			c.queue.Add(name)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, _ interface{}) { enqueueUsed(old) },
		DeleteFunc: enqueueUsed,
	}
	if _, err := pvs.Informer().AddEventHandler(handler); err != nil {
		return nil, fmt.Errorf("watch persistent volumes: %w", err)
	}
	if _, err := pvcs.Informer().AddEventHandler(handler); err != nil {
		return nil, fmt.Errorf("watch persistent volume claims: %w", err)
	}
	return c, nil
}

// Run protects classes until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	controller.RunWorkers(ctx, "vacprotection", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	vac, err := c.vacLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has := slices.Contains(vac.Finalizers, Finalizer)
	switch {
	case vac.DeletionTimestamp != nil && has:
		used, err := c.inUse(name)
		if err != nil || used {
			return err
		}
		v := vac.DeepCopy()
		v.Finalizers = slices.DeleteFunc(v.Finalizers, func(f string) bool { return f == Finalizer })
		if _, err := c.client.StorageV1().VolumeAttributesClasses().Update(ctx, v, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove protection finalizer from VolumeAttributesClass %s: %w", name, err)
		}
		klog.FromContext(ctx).V(3).Info("Removed protection finalizer from VolumeAttributesClass", "class", name)
	case vac.DeletionTimestamp == nil && !has:
		v := vac.DeepCopy()
		v.Finalizers = append(v.Finalizers, Finalizer)
		if _, err := c.client.StorageV1().VolumeAttributesClasses().Update(ctx, v, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("add protection finalizer to VolumeAttributesClass %s: %w", name, err)
		}
	}
	return nil
}

// inUse reports whether a volume or claim refers to the class.
func (c *Controller) inUse(name string) (bool, error) {
	for _, index := range []cache.Indexer{c.pvIndex, c.pvcIndex} {
		users, err := index.ByIndex(classIndex, name)
		if err != nil || len(users) > 0 {
			return len(users) > 0, err
		}
	}
	return false, nil
}

// classesOf lists the VolumeAttributesClasses a volume or claim refers to:
// its spec, and for claims the current and target classes in status.
func classesOf(obj interface{}) []string {
	var out []string
	add := func(name *string) {
		if name != nil && *name != "" {
			out = append(out, *name)
		}
	}
	switch o := obj.(type) {
	case *corev1.PersistentVolume:
		add(o.Spec.VolumeAttributesClassName)
	case *corev1.PersistentVolumeClaim:
		add(o.Spec.VolumeAttributesClassName)
		add(o.Status.CurrentVolumeAttributesClassName)
		if o.Status.ModifyVolumeStatus != nil {
			add(&o.Status.ModifyVolumeStatus.TargetVolumeAttributesClassName)
		}
	}
	return out
}
