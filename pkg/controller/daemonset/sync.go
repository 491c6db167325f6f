package daemonset

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
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(3).Info("Daemon set has been deleted", "daemonset", key)
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to retrieve ds %v from store: %w", key, err)
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("couldn't get list of nodes when syncing daemon set %#v: %w", ds, err)
	}
	if reflect.DeepEqual(ds.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, SelectingAllReason, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	cur, old, err := c.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("failed to construct revisions of DaemonSet: %w", err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !c.expectations.Satisfied(key) {
		// Pods in flight: only the status.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.manage(ctx, ds, nodes, hash)
	if err == nil && c.expectations.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		err = c.rollingUpdate(ctx, ds, nodes, hash)
	}
	if err == nil {
		if cErr := c.cleanupHistory(ctx, ds, old); cErr != nil {
			err = fmt.Errorf("failed to clean up revisions of DaemonSet: %w", cErr)
		}
	}
	statusErr := c.updateStatus(ctx, ds, nodes, hash, true)
	if err != nil {
		if statusErr != nil {
			logger.Error(statusErr, "Failed to update status", "daemonSet", klog.KObj(ds))
		}
		return err
	}
	return statusErr
}

// updateStatus counts, over the nodes that should run a pod, those that
// do, ready, available and updated ones, and the pods on nodes that
// should not run one.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, observeGeneration bool) error {
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	now := c.failedPodsBackoff.Clock.Now()
	p := newPlacement(ds)
	gen, err := templateGeneration(ds)
	if err != nil {
		gen = nil
	}
	var desired, current, misscheduled, ready, updated, available int32
	for _, node := range nodes {
		shouldRun, _ := p.shouldRun(node)
		pods := byNode[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				misscheduled++
			}
			continue
		}
		desired++
		if len(pods) == 0 {
			continue
		}
		current++
		byNodeAndAge(pods)
		pod := pods[0]
		if podutil.IsPodReady(pod) {
			ready++
			if podutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, metav1.Time{Time: now}) {
				available++
			}
		}
		if isPodUpdated(pod, hash, gen) {
			updated++
		}
	}
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: desired,
		CurrentNumberScheduled: current,
		NumberMisscheduled:     misscheduled,
		NumberReady:            ready,
		UpdatedNumberScheduled: updated,
		NumberAvailable:        available,
		NumberUnavailable:      desired - available,
	}
	if ds.Spec.MinReadySeconds > 0 && ready != available {
		// Ready pods become available later without any event.
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	s := ds.Status
	if s.DesiredNumberScheduled == want.DesiredNumberScheduled && s.CurrentNumberScheduled == want.CurrentNumberScheduled &&
		s.NumberMisscheduled == want.NumberMisscheduled && s.NumberReady == want.NumberReady &&
		s.UpdatedNumberScheduled == want.UpdatedNumberScheduled && s.NumberAvailable == want.NumberAvailable &&
		s.NumberUnavailable == want.NumberUnavailable && s.ObservedGeneration >= ds.Generation {
		return nil
	}
	toUpdate := ds.DeepCopy()
	for i := 0; ; i++ {
		if observeGeneration {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = want.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = want.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = want.NumberMisscheduled
		toUpdate.Status.NumberReady = want.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = want.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = want.NumberAvailable
		toUpdate.Status.NumberUnavailable = want.NumberUnavailable
		_, err = c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if i >= statusUpdateRetries {
			return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		if toUpdate, err = c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
		}
	}
}
