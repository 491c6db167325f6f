package daemonset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/skiff-project/skiff/pkg/controller"
)

// rollingUpdate replaces pods of old revisions: without surge, by
// deleting up to maxUnavailable of them (the core loop then creates new
// ones); with surge, by creating new pods next to old ones (up to
// maxSurge) and deleting each old pod once its replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	logger := klog.FromContext(ctx)
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	maxSurge, maxUnavailable, desired, err := c.updateCounts(ds, nodes, byNode)
	if err != nil {
		return fmt.Errorf("couldn't get unavailable numbers: %w", err)
	}
	now := c.failedPodsBackoff.Clock.Now()
	available := func(p *corev1.Pod) bool {
		return podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, metav1.Time{Time: now})
	}
	// Map iteration order is random; sort nodes for stable choices.
	nodeNames := make([]string, 0, len(byNode))
	for n := range byNode {
		nodeNames = append(nodeNames, n)
	}
	sort.Strings(nodeNames)

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidates []*corev1.Pod
		for _, nodeName := range nodeNames {
			newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[nodeName], hash)
			if !ok {
				// Duplicates: the core loop cleans them up first.
				unavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				unavailable++
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			default:
				switch {
				case !available(oldPod):
					// Already unavailable: replacing it costs nothing.
					replace = append(replace, oldPod)
					unavailable++
				case unavailable >= maxUnavailable:
				default:
					candidates = append(candidates, oldPod)
				}
			}
		}
		n := min(max(maxUnavailable-unavailable, 0), len(candidates))
		logger.V(5).Info("DaemonSet allowing replacements", "daemonset", klog.KObj(ds), "replacements", len(replace), "maxUnavailable", maxUnavailable, "numUnavailable", unavailable, "candidates", len(candidates))
		return c.syncNodes(ctx, ds, append(replace, candidates[:n]...), nil, hash)
	}

	p := newPlacement(ds)
	var remove, notWanted []*corev1.Pod
	var allowedNew, candidateNew []string
	surge, numAvailable := 0, 0
	for _, nodeName := range nodeNames {
		newPod, oldPod, ok := updatedPodsOnNode(ds, byNode[nodeName], hash)
		if !ok {
			surge++
			continue
		}
		if oldPod != nil && available(oldPod) || oldPod == nil && newPod != nil && available(newPod) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
		case newPod == nil:
			node, err := c.nodeLister.Get(nodeName)
			if err != nil {
				return fmt.Errorf("couldn't get node for nodeName %q: %w", nodeName, err)
			}
			shouldRun, _ := p.shouldRun(node)
			switch {
			case !available(oldPod) && !shouldRun:
				remove = append(remove, oldPod)
			case !available(oldPod):
				allowedNew = append(allowedNew, nodeName)
			case !shouldRun:
				notWanted = append(notWanted, oldPod)
			case surge < maxSurge:
				candidateNew = append(candidateNew, nodeName)
			}
		default:
			if !available(newPod) {
				surge++
				continue
			}
			// The replacement is available: the old pod goes.
			remove = append(remove, oldPod)
		}
	}
	// Old pods on nodes that no longer qualify go while enough others
	// are available.
	if n := min(numAvailable-desired, len(notWanted)); n > 0 {
		remove = append(remove, notWanted[:n]...)
	}
	n := min(max(maxSurge-surge, 0), len(candidateNew))
	return c.syncNodes(ctx, ds, remove, append(allowedNew, candidateNew[:n]...), hash)
}

// updatedPodsOnNode returns the node's new and old pod; ok is false when
// there are several of either.
func updatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	gen, err := templateGeneration(ds)
	if err != nil {
		gen = nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(pod, hash, gen) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// updateCounts resolves maxSurge and maxUnavailable against the number of
// nodes that should run a pod (which it returns), and adds those nodes to
// byNode so that empty ones count.
func (c *Controller) updateCounts(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod) (int, int, int, error) {
	p := newPlacement(ds)
	desired := 0
	for _, node := range nodes {
		if shouldRun, _ := p.shouldRun(node); shouldRun {
			desired++
			if _, ok := byNode[node.Name]; !ok {
				byNode[node.Name] = nil
			}
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, desired, nil
}

// revisionPatch is a revision's data: a patch replacing spec.template.
func revisionPatch(ds *appsv1.DaemonSet) ([]byte, error) {
	data, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	template := raw["spec"].(map[string]interface{})["template"].(map[string]interface{})
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

func matchesRevision(ds *appsv1.DaemonSet, cr *appsv1.ControllerRevision) (bool, error) {
	patch, err := revisionPatch(ds)
	if err != nil {
		return false, err
	}
	return bytes.Equal(patch, cr.Data.Raw), nil
}

// constructHistory returns the revision of the current template (created
// or renumbered as the newest) and the old ones.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	all, err := c.controlledRevisions(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	var current, old []*appsv1.ControllerRevision
	for _, cr := range all {
		if _, ok := cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			// Revisions from before the hash label: label them by name.
			cp := cr.DeepCopy()
			cp.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = cp.Name
			if cr, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
				return nil, nil, err
			}
		}
		match, err := matchesRevision(ds, cr)
		if err != nil {
			return nil, nil, err
		}
		if match {
			current = append(current, cr)
		} else {
			old = append(old, cr)
		}
	}
	next := maxRevision(old) + 1
	var cur *appsv1.ControllerRevision
	if len(current) == 0 {
		if cur, err = c.snapshot(ctx, ds, next); err != nil {
			return nil, nil, err
		}
		return cur, old, nil
	}
	if cur, err = c.dedupCurrent(ctx, ds, current); err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		cp := cur.DeepCopy()
		cp.Revision = next
		if _, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod still runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	byNode, err := c.podsByNode(ctx, ds, true)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	live := map[string]bool{}
	for _, pods := range byNode {
		for _, p := range pods {
			if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
				live[h] = true
			}
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	for _, cr := range old {
		if toKill <= 0 {
			break
		}
		if live[cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
		toKill--
	}
	return nil
}

func maxRevision(revisions []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revisions {
		m = max(m, r.Revision)
	}
	return m
}

// dedupCurrent keeps the newest of several revisions of the current
// template, relabels pods of the others to it and deletes them.
func (c *Controller) dedupCurrent(ctx context.Context, ds *appsv1.DaemonSet, current []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if len(current) == 1 {
		return current[0], nil
	}
	keep := current[0]
	for _, cr := range current {
		if cr.Revision >= keep.Revision {
			keep = cr
		}
	}
	pods, err := c.daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for _, pod := range pods {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			continue
		}
		patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}})
		if err != nil {
			return nil, err
		}
		if _, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return nil, err
		}
	}
	for _, cr := range current {
		if cr.Name == keep.Name {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// controlledRevisions claims the DaemonSet's revisions by selector.
func (c *Controller) controlledRevisions(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.revLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	m := &controller.RefManager{Controller: ds, Kind: controllerKind, Selector: selector, CanAdopt: c.canAdopt(ds)}
	return m.ClaimControllerRevisions(ctx, all, func(ctx context.Context, namespace, name string, patch []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
}

// snapshot creates the revision of the current template, named
// "<ds>-<hash>"; a different revision under that name is a hash
// collision, resolved by bumping status.collisionCount.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	patch, err := revisionPatch(ds)
	if err != nil {
		return nil, err
	}
	hash := controller.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	name := ds.Name + "-" + hash
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, cr, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	// From here on err is the AlreadyExists error, returned at the end.
	existing, getErr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if ok, mErr := matchesRevision(ds, existing); mErr != nil {
		return nil, mErr
	} else if ok {
		return existing, nil
	}
	fresh, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if !reflect.DeepEqual(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, fmt.Errorf("found a stale collision count (%v, expected %v) of DaemonSet %q while processing; will retry until it is updated", ds.Status.CollisionCount, fresh.Status.CollisionCount, ds.Name)
	}
	if fresh.Status.CollisionCount == nil {
		fresh.Status.CollisionCount = new(int32)
	}
	*fresh.Status.CollisionCount++
	if _, updateErr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); updateErr != nil {
		return nil, updateErr
	}
	klog.FromContext(ctx).V(2).Info("Found a hash collision for DaemonSet - bumping collisionCount to resolve it", "daemonset", klog.KObj(ds), "collisionCount", *fresh.Status.CollisionCount)
	// The next sync hashes with the new collision count.
	return nil, err
}
