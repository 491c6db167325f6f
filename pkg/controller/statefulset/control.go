package statefulset

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/controller/history"
)

// maxBatchSize caps one batch of parallel pod operations.
const maxBatchSize = 500

// updateStatefulSet reconciles the pods of set and writes its status.
func (c *Controller) updateStatefulSet(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, now time.Time) (*appsv1.StatefulSetStatus, error) {
	set = set.DeepCopy()
	revisions, err := c.listRevisions(set)
	if err != nil {
		return nil, err
	}
	history.Sort(revisions)
	current, update, status, err := c.performUpdate(ctx, set, pods, revisions, now)
	truncErr := c.truncateHistory(ctx, set, pods, revisions, current, update)
	if err != nil {
		return nil, utilerrors.NewAggregate([]error{err, truncErr})
	}
	return status, truncErr
}

func (c *Controller) performUpdate(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revisions []*appsv1.ControllerRevision, now time.Time) (*appsv1.ControllerRevision, *appsv1.ControllerRevision, *appsv1.StatefulSetStatus, error) {
	current, update, collisionCount, err := c.revisions(ctx, set, revisions)
	if err != nil {
		return current, update, nil, err
	}
	status, err := c.reconcilePods(ctx, set, current, update, collisionCount, pods, now)
	if err != nil && status == nil {
		return current, update, nil, err
	}
	statusErr := c.writeStatus(ctx, set, status)
	switch {
	case err != nil:
		if statusErr != nil {
			klog.FromContext(ctx).Error(statusErr, "Could not update status", "statefulSet", klog.KObj(set))
		}
		return current, update, status, err
	case statusErr != nil:
		return current, update, status, statusErr
	}
	return current, update, status, nil
}

// revisions returns the current revision (status.currentRevision, or the
// update revision for a new set) and the update revision (the set's
// template now), creating or renumbering that one as needed.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, *appsv1.ControllerRevision, int32, error) {
	var collisionCount int32
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	update, err := newRevision(set, nextRevision(revisions), &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	equal := history.FindEqual(revisions, update)
	switch {
	case len(equal) > 0 && history.Equal(revisions[len(revisions)-1], equal[len(equal)-1]):
		// The newest revision already is this template.
		update = revisions[len(revisions)-1]
	case len(equal) > 0:
		// A rollback to an older template: renumber that revision.
		update, err = c.history.UpdateRevision(ctx, equal[len(equal)-1], update.Revision)
		if err != nil {
			return nil, nil, collisionCount, err
		}
	default:
		update, err = c.history.Create(ctx, set, update, &collisionCount)
		if err != nil {
			return nil, nil, collisionCount, err
		}
	}
	var current *appsv1.ControllerRevision
	for _, r := range revisions {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod uses and that are neither current nor update.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revisions []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	if current != nil {
		live[current.Name] = true
	}
	if update != nil {
		live[update.Name] = true
	}
	for _, p := range pods {
		live[podRevision(p)] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revisions {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(old) <= limit {
		return nil
	}
	for _, r := range old[:len(old)-limit] {
		if err := c.history.Delete(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// countReplicas counts created, ready, available, current and updated pods.
func countReplicas(status *appsv1.StatefulSetStatus, minReadySeconds int32, current, update *appsv1.ControllerRevision, now time.Time, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas, status.CurrentReplicas, status.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, list := range lists {
		for _, pod := range list {
			if pod == nil {
				continue
			}
			if isCreated(pod) {
				status.Replicas++
			}
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if isAvailable(pod, minReadySeconds, now) {
					status.AvailableReplicas++
				}
			}
			if isCreated(pod) && !isTerminating(pod) {
				if podRevision(pod) == current.Name {
					status.CurrentReplicas++
				}
				if podRevision(pod) == update.Name {
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// reconcilePods creates missing pods (in order unless the policy is
// Parallel), fixes identity and storage, deletes condemned pods (highest
// ordinal first) and rolls pods to the update revision.
func (c *Controller) reconcilePods(ctx context.Context, set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod, now time.Time) (*appsv1.StatefulSetStatus, error) {
	logger := klog.FromContext(ctx)
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return nil, err
	}
	if set.Spec.UpdateStrategy.Type == appsv1.RecreateStatefulSetStrategyType {
		// Alpha in upstream 1.37 (StatefulSetRecreateStrategy, off).
		err := fmt.Errorf("statefulset %s/%s uses Recreate strategy but feature gate %s is disabled", set.Namespace, set.Name, "StatefulSetRecreateStrategy")
		c.recorder.Event(set, corev1.EventTypeWarning, "UnknownStrategy", err.Error())
		return nil, err
	}

	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     update.Name,
		CollisionCount:     &collisionCount,
	}
	status.Conditions = append(status.Conditions, set.Status.Conditions...)
	countReplicas(status, set.Spec.MinReadySeconds, current, update, now, pods)

	replicas := make([]*corev1.Pod, int(*set.Spec.Replicas))
	var condemned []*corev1.Pod
	for _, pod := range pods {
		switch {
		case inOrdinalRange(pod, set):
			replicas[ordinalOf(pod)-startOrdinal(set)] = pod
		case ordinalOf(pod) >= 0:
			condemned = append(condemned, pod)
		}
	}
	for ord := startOrdinal(set); ord <= endOrdinal(set); ord++ {
		if i := ord - startOrdinal(set); replicas[i] == nil {
			replicas[i] = newVersionedPod(currentSet, updateSet, current.Name, update.Name, ord)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	// The first unavailable pod (lowest replica, else lowest condemned)
	// may be deleted on scale-down even when the set waits for health.
	var firstUnavailable *corev1.Pod
	for _, p := range replicas {
		if isUnavailable(p, set.Spec.MinReadySeconds, now) {
			firstUnavailable = p
			break
		}
	}
	if firstUnavailable == nil {
		for i := len(condemned) - 1; i >= 0; i-- {
			if isUnavailable(condemned[i], set.Spec.MinReadySeconds, now) {
				firstUnavailable = condemned[i]
				break
			}
		}
	}
	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := !allowsBurst(set)
	recount := func() { countReplicas(status, set.Spec.MinReadySeconds, current, update, now, replicas, condemned) }

	if exit, err := runForAll(replicas, monotonic, func(i int) (bool, error) {
		return c.processReplica(ctx, set, updateSet, monotonic, replicas, i, now)
	}); exit || err != nil {
		recount()
		return status, err
	}
	if exit, err := runForAll(condemned, monotonic, func(i int) (bool, error) {
		match, err := c.pods.claimsMatchRetention(updateSet, condemned[i])
		if err != nil {
			return true, err
		}
		if !match {
			if err := c.pods.updateClaimsForRetention(ctx, updateSet, condemned[i]); err != nil {
				return true, err
			}
		}
		return false, nil
	}); exit || err != nil {
		recount()
		return status, err
	}
	if exit, err := runForAll(condemned, monotonic, func(i int) (bool, error) {
		return c.processCondemned(ctx, set, firstUnavailable, monotonic, condemned, i, now)
	}); exit || err != nil {
		recount()
		return status, err
	}
	recount()

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	logger.V(4).Info("Rolling StatefulSet", "statefulSet", klog.KObj(set), "updateRevision", update.Name)
	return c.rollingUpdate(ctx, set, replicas, update, status, now)
}

// processReplica handles one pod in the ordinal range; it returns true
// when the (ordered) walk must stop here.
func (c *Controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, monotonic bool, replicas []*corev1.Pod, i int, now time.Time) (bool, error) {
	pod := replicas[i]
	// A failed or succeeded pod is deleted and re-created.
	if isTerminal(pod) {
		if pod.DeletionTimestamp == nil {
			if err := c.pods.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		stale, err := c.pods.claimIsStale(set, pod)
		if err != nil || stale {
			return true, err
		}
		if err := c.pods.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			// OrderedReady: one pod at a time.
			return true, nil
		}
	}
	if isPending(pod) {
		if err := c.pods.createMissingClaims(ctx, set, pod); err != nil {
			return true, err
		}
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		// The next ordinal waits for this one to be available.
		return true, nil
	}
	match, err := c.pods.claimsMatchRetention(updateSet, pod)
	if err != nil {
		match = true
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && match {
		return false, nil
	}
	return false, c.pods.updatePod(ctx, updateSet, pod.DeepCopy())
}

// processCondemned deletes a pod beyond the ordinal range.
func (c *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnavailable *corev1.Pod, monotonic bool, condemned []*corev1.Pod, i int, now time.Time) (bool, error) {
	pod := condemned[i]
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnavailable && (!isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	klog.FromContext(ctx).V(2).Info("Pod of StatefulSet is terminating for scale down", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
	return true, c.pods.deletePod(ctx, set, pod)
}

// runForAll applies fn to each pod: in order, stopping at the first that
// says so (monotonic), or all at once in slow-start batches.
func runForAll(pods []*corev1.Pod, monotonic bool, fn func(i int) (bool, error)) (bool, error) {
	if monotonic {
		for i := range pods {
			if exit, err := fn(i); exit || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	if _, err := slowStartBatch(1, len(pods), fn); err != nil {
		return true, err
	}
	return false, nil
}

func slowStartBatch(initial, remaining int, fn func(int) (bool, error)) (int, error) {
	successes, next := 0, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining, maxBatchSize) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			k := next
			next++
			wg.Go(func() {
				if _, err := fn(k); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		close(errCh)
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			var errs []error
			for err := range errCh {
				errs = append(errs, err)
			}
			return successes, utilerrors.NewAggregate(errs)
		}
		remaining -= batch
	}
	return successes, nil
}

// rollingUpdate deletes pods of old revisions from the highest ordinal
// down to the partition, at most maxUnavailable unavailable at a time
// (upstream's behaviour with MaxUnavailableStatefulSet, on in 1.37).
func (c *Controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicas []*corev1.Pod, update *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus, now time.Time) (*appsv1.StatefulSetStatus, error) {
	logger := klog.FromContext(ctx)
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		var err error
		if maxUnavailable, err = maxUnavailableOf(ru.MaxUnavailable, int(*set.Spec.Replicas)); err != nil {
			return status, err
		}
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	unavailable, unavailableNeedingUpdate := 0, 0
	for i := len(replicas) - 1; i >= 0; i-- {
		if isUnavailable(replicas[i], set.Spec.MinReadySeconds, now) {
			unavailable++
			if parallel && podRevision(replicas[i]) != update.Name && !isTerminating(replicas[i]) {
				unavailableNeedingUpdate++
			}
		}
	}
	if unavailable >= maxUnavailable && unavailableNeedingUpdate == 0 {
		logger.V(4).Info("StatefulSet waits for unavailable pods before updating more", "statefulSet", klog.KObj(set), "unavailable", unavailable, "maxUnavailable", maxUnavailable)
		return status, nil
	}
	del := func(pod *corev1.Pod) error {
		logger.V(2).Info("Pod of StatefulSet is terminating for update", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
		if err := c.pods.deletePod(ctx, set, pod); err != nil {
			return err
		}
		status.CurrentReplicas--
		return nil
	}
	if parallel {
		// Unavailable old pods cost nothing to replace.
		for i := len(replicas) - 1; i >= partition; i-- {
			p := replicas[i]
			if podRevision(p) != update.Name && !isAvailable(p, set.Spec.MinReadySeconds, now) && !isTerminating(p) {
				if err := del(p); err != nil {
					return status, err
				}
			}
		}
		budget := maxUnavailable - unavailable
		for i := len(replicas) - 1; i >= partition && budget > 0; i-- {
			p := replicas[i]
			if podRevision(p) != update.Name && !isUnavailable(p, set.Spec.MinReadySeconds, now) {
				if err := del(p); err != nil {
					return status, err
				}
				budget--
			}
		}
		return status, nil
	}
	budget := maxUnavailable - unavailable
	for i := len(replicas) - 1; i >= partition && budget > 0; i-- {
		if podRevision(replicas[i]) != update.Name && !isTerminating(replicas[i]) {
			if err := del(replicas[i]); err != nil {
				return status, err
			}
			budget--
		}
	}
	return status, nil
}

// writeStatus completes a finished update (current = update) and writes
// the status when it changed.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	if status.UpdatedReplicas == *set.Spec.Replicas && status.ReadyReplicas == *set.Spec.Replicas && status.Replicas == *set.Spec.Replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
	if !statusChanged(set, status) {
		return nil
	}
	set = set.DeepCopy()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set.Status = *status
		_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, getErr := c.setLister.StatefulSets(set.Namespace).Get(set.Name); getErr == nil {
			set = fresh.DeepCopy()
		}
		return err
	})
}

func statusChanged(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) bool {
	cur := set.Status
	return status.ObservedGeneration > cur.ObservedGeneration ||
		status.Replicas != cur.Replicas ||
		status.CurrentReplicas != cur.CurrentReplicas ||
		status.ReadyReplicas != cur.ReadyReplicas ||
		status.UpdatedReplicas != cur.UpdatedReplicas ||
		status.CurrentRevision != cur.CurrentRevision ||
		status.AvailableReplicas != cur.AvailableReplicas ||
		status.UpdateRevision != cur.UpdateRevision ||
		!reflect.DeepEqual(cur.Conditions, status.Conditions)
}
