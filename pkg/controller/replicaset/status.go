package replicaset

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"
)

// calculateStatus counts the owner's pods: all active ones, those carrying
// every template label, the ready ones and the ones ready for
// minReadySeconds; and sets or clears ReplicaFailure after a failed
// create or delete.
func calculateStatus(r *Replicated, active, terminating []*corev1.Pod, reportTerminating bool, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *r.Status.DeepCopy()
	var fullyLabeled, ready, available int32
	var templateLabels labels.Selector = labels.Nothing()
	if r.Template != nil {
		templateLabels = labels.Set(r.Template.Labels).AsSelectorPreValidated()
	}
	for _, p := range active {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if podutil.IsPodReady(p) {
			ready++
			if podutil.IsPodAvailable(p, r.MinReadySeconds, metav1.Time{Time: now}) {
				available++
			}
		}
	}
	failure := getCondition(status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(r.Replicas); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		setCondition(&status, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetReplicaFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		removeCondition(&status, appsv1.ReplicaSetReplicaFailure)
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = nil
	if reportTerminating {
		status.TerminatingReplicas = ptr.To(int32(len(terminating)))
	}
	return status
}

// updateStatus writes status unless nothing changed, retrying once with a
// fresh copy on failure.
func (c *Core) updateStatus(ctx context.Context, r *Replicated, status appsv1.ReplicaSetStatus) (*Replicated, error) {
	if r.Status.Replicas == status.Replicas &&
		r.Status.FullyLabeledReplicas == status.FullyLabeledReplicas &&
		r.Status.ReadyReplicas == status.ReadyReplicas &&
		r.Status.AvailableReplicas == status.AvailableReplicas &&
		ptr.Equal(r.Status.TerminatingReplicas, status.TerminatingReplicas) &&
		r.GetGeneration() == r.Status.ObservedGeneration &&
		reflect.DeepEqual(r.Status.Conditions, status.Conditions) {
		return r, nil
	}
	// The generation acted on, so that a retry does not claim a newer one.
	status.ObservedGeneration = r.GetGeneration()
	logger := klog.FromContext(ctx)
	var lastErr error
	for i := 0; ; i++ {
		logger.V(4).Info("Updating status", "kind", c.gvk.Kind, "object", klog.KObj(r),
			"replicas", status.Replicas, "need", r.Replicas, "fullyLabeledReplicas", status.FullyLabeledReplicas,
			"readyReplicas", status.ReadyReplicas, "availableReplicas", status.AvailableReplicas, "observedGeneration", status.ObservedGeneration)
		r.Status = status
		updated, err := c.kind.UpdateStatus(ctx, r)
		if err == nil {
			return updated, nil
		}
		lastErr = err
		if i >= statusUpdateRetries {
			return nil, lastErr
		}
		fresh, err := c.kind.GetLive(ctx, r.GetNamespace(), r.GetName())
		if err != nil {
			return nil, err
		}
		r = fresh
	}
}

func getCondition(status appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// setCondition adds or replaces a condition, keeping an existing one with
// the same status and reason untouched (and so its transition time).
func setCondition(status *appsv1.ReplicaSetStatus, c appsv1.ReplicaSetCondition) {
	if cur := getCondition(*status, c.Type); cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	removeCondition(status, c.Type)
	status.Conditions = append(status.Conditions, c)
}

func removeCondition(status *appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) {
	var out []appsv1.ReplicaSetCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	status.Conditions = out
}
