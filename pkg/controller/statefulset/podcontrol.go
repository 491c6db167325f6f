package statefulset

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// podControl creates, updates and deletes the pods and claims of
// StatefulSets and records upstream's events for them.
type podControl struct {
	client      kubernetes.Interface
	podLister   corelisters.PodLister
	claimLister corelisters.PersistentVolumeClaimLister
	recorder    record.EventRecorder
}

func title(verb string) string { return strings.ToUpper(verb[:1]) + verb[1:] }

func (pc *podControl) podEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	if err == nil {
		pc.recorder.Event(set, corev1.EventTypeNormal, "Successful"+title(verb),
			fmt.Sprintf("%s Pod %s in StatefulSet %s successful", title(verb), pod.Name, set.Name))
		return
	}
	pc.recorder.Event(set, corev1.EventTypeWarning, "Failed"+title(verb),
		fmt.Sprintf("%s Pod %s in StatefulSet %s failed error: %s", title(verb), pod.Name, set.Name, err))
}

func (pc *podControl) claimEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		pc.recorder.Event(set, corev1.EventTypeNormal, "Successful"+title(verb),
			fmt.Sprintf("%s Claim %s Pod %s in StatefulSet %s success", title(verb), claim.Name, pod.Name, set.Name))
		return
	}
	pc.recorder.Event(set, corev1.EventTypeWarning, "Failed"+title(verb),
		fmt.Sprintf("%s Claim %s for Pod %s in StatefulSet %s failed error: %s", title(verb), claim.Name, pod.Name, set.Name, err))
}

// createPod creates the pod's claims, then the pod, then sets the
// claims' owners for the retention policy.
func (pc *podControl) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := pc.createClaims(ctx, set, pod); err != nil {
		pc.podEvent("create", set, pod, err)
		return err
	}
	created, err := pc.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return err
	}
	if err == nil {
		// The claims' owner references need the pod's UID.
		pod = created
		if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
			pc.podEvent("update", set, pod, err)
			return err
		}
	}
	pc.podEvent("create", set, pod, err)
	return err
}

// updatePod restores a pod's identity, storage and claim ownership.
func (pc *podControl) updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	attempted := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		consistent := true
		if !identityMatches(set, pod) {
			updateIdentity(set, pod)
			consistent = false
		}
		if !storageMatches(set, pod) {
			updateStorage(set, pod)
			consistent = false
			if err := pc.createClaims(ctx, set, pod); err != nil {
				pc.podEvent("update", set, pod, err)
				return err
			}
		}
		match, err := pc.claimsMatchRetention(set, pod)
		if err != nil {
			pc.podEvent("update", set, pod, err)
			return err
		}
		if !match {
			if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
				pc.podEvent("update", set, pod, err)
				return err
			}
			consistent = false
		}
		if consistent {
			return nil
		}
		attempted = true
		_, err = pc.client.CoreV1().Pods(pod.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, getErr := pc.podLister.Pods(set.Namespace).Get(pod.Name); getErr == nil {
			pod = fresh.DeepCopy()
		}
		return err
	})
	if attempted {
		pc.podEvent("update", set, pod, err)
	}
	return err
}

func (pc *podControl) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := pc.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		pc.podEvent("delete", set, pod, err)
		return err
	}
	pc.podEvent("delete", set, pod, nil)
	return nil
}

// claimsMatchRetention reports whether every existing claim of the pod has
// the owners the retention policy wants.
func (pc *podControl) claimsMatchRetention(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	o := ordinalOf(pod)
	for i := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, &set.Spec.VolumeClaimTemplates[i], o)
		claim, err := pc.claimLister.PersistentVolumeClaims(set.Namespace).Get(name)
		switch {
		case apierrors.IsNotFound(err):
			// Created later; checked again then.
		case err != nil:
			return false, fmt.Errorf("could not retrieve claim %s for %s when checking PVC deletion policy: %w", name, pod.Name, err)
		case !claimOwnerUpToDate(claim, set, pod):
			return false, nil
		}
	}
	return true, nil
}

func (pc *podControl) updateClaimsForRetention(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	o := ordinalOf(pod)
	for i := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, &set.Spec.VolumeClaimTemplates[i], o)
		claim, err := pc.claimLister.PersistentVolumeClaims(set.Namespace).Get(name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("could not retrieve claim %s for %s when checking PVC deletion policy: %w", name, pod.Name, err)
		}
		if hasUnexpectedController(claim, set, pod) {
			pc.recorder.Event(set, corev1.EventTypeWarning, "ConflictingController",
				fmt.Sprintf("PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim", name))
		}
		if claimOwnerUpToDate(claim, set, pod) {
			continue
		}
		claim = claim.DeepCopy()
		updateClaimOwnerRefs(claim, set, pod)
		if _, err := pc.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("could not update claim %s for delete policy ownerRefs: %w", name, err)
		}
	}
	return nil
}

// claimIsStale: a claim of the pod is owned by an earlier pod of the same
// name, so it is about to be garbage collected; wait for that.
func (pc *podControl) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	if retentionPolicy(set).WhenScaled == appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		return false, nil
	}
	for _, claim := range claimsFor(set, pod) {
		existing, err := pc.claimLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return false, err
		case hasStaleOwnerRef(existing, pod, podKind):
			return true, nil
		}
	}
	return false, nil
}

// createClaims creates the pod's missing claims.
func (pc *podControl) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		existing, err := pc.claimLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			_, err := pc.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, &claim, metav1.CreateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim.Name, err))
			}
			if err == nil || !apierrors.IsAlreadyExists(err) {
				pc.claimEvent("create", set, pod, &claim, err)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", claim.Name, err))
			pc.claimEvent("create", set, pod, &claim, err)
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", claim.Name))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// createMissingClaims re-creates claims of a pending pod (deleted while
// the pod waited) and fixes their owners.
func (pc *podControl) createMissingClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := pc.createClaims(ctx, set, pod); err != nil {
		return err
	}
	if err := pc.updateClaimsForRetention(ctx, set, pod); err != nil {
		pc.podEvent("update", set, pod, err)
		return err
	}
	klog.FromContext(ctx).V(5).Info("Checked claims of pending pod", "pod", klog.KObj(pod))
	return nil
}
