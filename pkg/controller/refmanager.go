package controller

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
)

// PatchFunc applies a strategic merge patch to the named object.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// RefManager claims children for a controller by selector: it keeps the
// children it controls that still match, adopts matching orphans (adding a
// controller reference) and releases controlled children that no longer
// match (removing it). Children controlled by someone else are left alone.
type RefManager struct {
	Controller metav1.Object
	Kind       schema.GroupVersionKind
	Selector   labels.Selector
	// CanAdopt is called once before the first adoption; it should re-read
	// the controller from the API (not the cache) and fail when it is being
	// deleted, so that a deleted controller never adopts anything.
	CanAdopt func(ctx context.Context) error
	// Finalizers are added on adoption and removed on release.
	Finalizers []string

	canAdoptOnce sync.Once
	canAdoptErr  error
}

// claim decides for one child; it returns whether the controller owns it
// afterwards.
func (m *RefManager) claim(ctx context.Context, kind string, obj metav1.Object, matches bool, patch PatchFunc) (bool, error) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != m.Controller.GetUID() {
			return false, nil
		}
		if matches {
			return true, nil
		}
		// Ours but no longer selected: release it, unless we are going
		// away ourselves (then the garbage collector handles it).
		if m.Controller.GetDeletionTimestamp() != nil {
			return false, nil
		}
		klog.FromContext(ctx).V(2).Info("Releasing child that no longer matches the selector", "controller", klog.KObj(m.Controller), "child", klog.KObj(obj))
		p, err := DeleteOwnerRefPatch(obj.GetUID(), []types.UID{m.Controller.GetUID()}, m.Finalizers...)
		if err != nil {
			return false, err
		}
		if err := patch(ctx, obj.GetNamespace(), obj.GetName(), p); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			// Invalid means the child's own validation refuses the
			// change (e.g. it is being deleted); nothing to retry.
			return false, err
		}
		return false, nil
	}
	if m.Controller.GetDeletionTimestamp() != nil || !matches || obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if ns := m.Controller.GetNamespace(); ns != "" && ns != obj.GetNamespace() {
		return false, nil
	}
	m.canAdoptOnce.Do(func() {
		if m.CanAdopt != nil {
			m.canAdoptErr = m.CanAdopt(ctx)
		}
	})
	if m.canAdoptErr != nil {
		return false, fmt.Errorf("can't adopt %s %s/%s (%s): %w", kind, obj.GetNamespace(), obj.GetName(), obj.GetUID(), m.canAdoptErr)
	}
	p, err := ownerRefPatch(m.Controller, m.Kind, obj.GetUID(), m.Finalizers...)
	if err != nil {
		return false, err
	}
	if err := patch(ctx, obj.GetNamespace(), obj.GetName(), p); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ClaimPods claims pods; filters further restrict which pods match.
func (m *RefManager) ClaimPods(ctx context.Context, pods []*corev1.Pod, patch PatchFunc, filters ...func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	var claimed []*corev1.Pod
	var errs []error
	for _, pod := range pods {
		matches := m.Selector.Matches(labels.Set(pod.Labels))
		for _, f := range filters {
			matches = matches && f(pod)
		}
		ok, err := m.claim(ctx, "Pod", pod, matches, patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, pod)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// ClaimReplicaSets claims ReplicaSets (for Deployments).
func (m *RefManager) ClaimReplicaSets(ctx context.Context, sets []*appsv1.ReplicaSet, patch PatchFunc) ([]*appsv1.ReplicaSet, error) {
	var claimed []*appsv1.ReplicaSet
	var errs []error
	for _, rs := range sets {
		ok, err := m.claim(ctx, "ReplicaSet", rs, m.Selector.Matches(labels.Set(rs.Labels)), patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, rs)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// ClaimControllerRevisions claims ControllerRevisions (for StatefulSets
// and DaemonSets).
func (m *RefManager) ClaimControllerRevisions(ctx context.Context, revisions []*appsv1.ControllerRevision, patch PatchFunc) ([]*appsv1.ControllerRevision, error) {
	var claimed []*appsv1.ControllerRevision
	var errs []error
	for _, r := range revisions {
		ok, err := m.claim(ctx, "ControllerRevision", r, m.Selector.Matches(labels.Set(r.Labels)), patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, r)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// RecheckDeletionTimestamp returns a CanAdopt function that fetches the
// controller fresh with get and fails if it is being deleted.
func RecheckDeletionTimestamp(get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		obj, err := get(ctx)
		if err != nil {
			return fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
		}
		if obj.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%v/%v has just been deleted at %v", obj.GetNamespace(), obj.GetName(), obj.GetDeletionTimestamp())
		}
		return nil
	}
}
