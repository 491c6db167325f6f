package pod

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/util/dryrun"
	policyclient "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/util/retry"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"
	v1podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/utils/ptr"
)

// maxDisruptedPods caps a PDB's status.disruptedPods: beyond it, evictions
// approved here have not been noticed by the disruption controller yet and
// further ones are refused until it catches up.
const maxDisruptedPods = 2000

// evictionRetry retries conflicts with other writers of the pod or PDB.
var evictionRetry = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

var evictionKind = policyv1.SchemeGroupVersion.WithKind("Eviction")

// podStore is what the eviction needs of the pods store.
type podStore interface {
	Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error)
	Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error)
	Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error)
}

// EvictionREST is pods/eviction: a delete that respects the
// PodDisruptionBudgets covering the pod.
type EvictionREST struct {
	store podStore
	pdbs  policyclient.PodDisruptionBudgetsGetter
	retry wait.Backoff
}

var (
	_ rest.NamedCreater             = &EvictionREST{}
	_ rest.GroupVersionKindProvider = &EvictionREST{}
	_ rest.GroupVersionAcceptor     = &EvictionREST{}
)

func newEvictionREST(store podStore, pdbs policyclient.PodDisruptionBudgetsGetter) *EvictionREST {
	return &EvictionREST{store: store, pdbs: pdbs, retry: evictionRetry}
}

// GroupVersionKind is policy/v1 Eviction.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return evictionKind
}

// AcceptsGroupVersion accepts policy/v1 Evictions (skiff serves no
// policy/v1beta1).
func (r *EvictionREST) AcceptsGroupVersion(gv schema.GroupVersion) bool {
	return gv == policyv1.SchemeGroupVersion
}

// New returns an empty Eviction.
func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }

// Destroy does nothing: the pods store owns the storage.
func (r *EvictionREST) Destroy() {}

// Create evicts the pod: terminal, pending and terminating pods are deleted
// at once; others only if their PodDisruptionBudget (at most one) allows a
// disruption, which is then taken from the budget.
func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if eviction.DeleteOptions != nil && ptr.Deref(eviction.DeleteOptions.IgnoreStoreReadErrorWithClusterBreakingPotential, false) {
		return nil, apierrors.NewInvalid(evictionKind.GroupKind(), name, field.ErrorList{
			field.Invalid(field.NewPath("deleteOptions").Child("ignoreStoreReadErrorWithClusterBreakingPotential"), true, "can not be set for pod eviction, try after removing the option"),
		})
	}
	deleteOptions, err := propagateDryRun(eviction, options)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	// Pods whose budget does not matter are deleted right away, retrying
	// conflicts unless the client pinned a resourceVersion.
	var pod *corev1.Pod
	deleted := false
	shouldRetry := apierrors.IsConflict
	if !resourceVersionIsUnset(deleteOptions) {
		shouldRetry = func(error) bool { return false }
	}
	err = retry.OnError(r.retry, shouldRetry, func() error {
		obj, err := r.store.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod = obj.(*corev1.Pod)
		if !canIgnorePDB(pod) {
			return nil
		}
		opts := deleteOptions
		// Pin the version we looked at, so that a pod becoming Running
		// meanwhile is not deleted past its budget.
		if shouldEnforceResourceVersion(pod) && resourceVersionIsUnset(deleteOptions) {
			opts = opts.DeepCopy()
			setPreconditionsResourceVersion(opts, &pod.ResourceVersion)
		}
		if err := r.addConditionAndDelete(ctx, name, opts); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if deleted {
		return &metav1.Status{Status: metav1.StatusSuccess}, nil
	}

	pdbName, unhealthyDelete, result, err := r.takeDisruption(ctx, pod, dryrun.IsDryRun(deleteOptions.DryRun))
	if wait.Interrupted(err) {
		err = apierrors.NewTimeoutError(fmt.Sprintf("couldn't update PodDisruptionBudget %q due to conflicts", pdbName), 10)
	}
	if err != nil {
		return nil, err
	}
	if result != nil {
		return result, nil
	}

	// No budget, a disruption taken, or an unready pod the budget can spare.
	opts := deleteOptions
	if unhealthyDelete {
		// The budget was not charged because the pod is unready: make sure
		// it has not become ready since.
		opts = opts.DeepCopy()
		setPreconditionsResourceVersion(opts, &pod.ResourceVersion)
	}
	if err := r.addConditionAndDelete(ctx, name, opts); err != nil {
		if apierrors.IsConflict(err) && unhealthyDelete && resourceVersionIsUnset(deleteOptions) {
			return nil, tooManyRequests(pdbName)
		}
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// takeDisruption checks the pod's PodDisruptionBudget. It returns the PDB's
// name; unhealthyDelete when the pod is unready and may go without charging
// the budget; a result to answer instead of deleting (several PDBs); or the
// error refusing the eviction.
func (r *EvictionREST) takeDisruption(ctx context.Context, pod *corev1.Pod, dryRun bool) (pdbName string, unhealthyDelete bool, result *metav1.Status, err error) {
	if r.pdbs == nil {
		return "", false, nil, apierrors.NewServiceUnavailable("cannot read PodDisruptionBudgets: the API server has no loopback client")
	}
	pdbs, err := r.podDisruptionBudgets(ctx, pod)
	if err != nil {
		return "", false, nil, err
	}
	switch len(pdbs) {
	case 0:
		return "", false, nil, nil
	case 1:
	default:
		return "", false, &metav1.Status{
			Status:  metav1.StatusFailure,
			Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
			Code:    500,
		}, nil
	}
	pdb := &pdbs[0]
	pdbName = pdb.Name

	// Readiness is what the budget counts as healthy.
	if !v1podutil.IsPodReady(pod) {
		if pdb.Spec.UnhealthyPodEvictionPolicy != nil && *pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow {
			return pdbName, true, nil, nil
		}
		// IfHealthyBudget (the default): the application is not disrupted
		// now, so an unready pod can go without charging the budget.
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return pdbName, true, nil, nil
		}
	}

	refresh := false
	err = retry.RetryOnConflict(r.retry, func() error {
		if refresh {
			fresh, err := r.pdbs.PodDisruptionBudgets(pod.Namespace).Get(ctx, pdbName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			pdb = fresh
		}
		if err := r.checkAndDecrement(ctx, pod.Namespace, pod.Name, *pdb, dryRun); err != nil {
			refresh = true
			return err
		}
		return nil
	})
	return pdbName, false, nil, err
}

// addConditionAndDelete marks the pod DisruptionTarget (unless dry-run) and
// deletes it with options.
func (r *EvictionREST) addConditionAndDelete(ctx context.Context, name string, options *metav1.DeleteOptions) error {
	if !dryrun.IsDryRun(options.DryRun) {
		// The update starts from the stored pod (the request carries no
		// object), checked against the delete's preconditions.
		latest := func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
			pod := old.(*corev1.Pod).DeepCopy()
			if p := options.Preconditions; p != nil {
				if p.UID != nil && *p.UID != "" && *p.UID != pod.UID {
					return nil, apierrors.NewConflict(schema.GroupResource{Resource: "Pod"}, pod.Name,
						fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, pod.UID))
				}
				if p.ResourceVersion != nil && *p.ResourceVersion != "" && *p.ResourceVersion != pod.ResourceVersion {
					return nil, apierrors.NewConflict(schema.GroupResource{Resource: "Pod"}, pod.Name,
						fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, pod.ResourceVersion))
				}
			}
			return pod, nil
		}
		addCondition := func(_ context.Context, obj, _ runtime.Object) (runtime.Object, error) {
			pod := obj.(*corev1.Pod)
			v1podutil.UpdatePodCondition(&pod.Status, &corev1.PodCondition{
				Type:    corev1.DisruptionTarget,
				Status:  corev1.ConditionTrue,
				Reason:  "EvictionByEvictionAPI",
				Message: "Eviction API: evicting",
			})
			return pod, nil
		}
		updated, _, err := r.store.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, latest, addCondition),
			rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		if !resourceVersionIsUnset(options) {
			// Our own update moved the version the delete is pinned to.
			rv, err := meta.NewAccessor().ResourceVersion(updated)
			if err != nil {
				return err
			}
			options = options.DeepCopy()
			options.Preconditions.ResourceVersion = &rv
		}
	}
	_, _, err := r.store.Delete(ctx, name, rest.ValidateAllObjectFunc, options)
	return err
}

// checkAndDecrement takes one disruption from pdb, recording the pod in
// status.disruptedPods for the disruption controller, or explains why the
// budget allows none.
func (r *EvictionREST) checkAndDecrement(ctx context.Context, namespace, podName string, pdb policyv1.PodDisruptionBudget, dryRun bool) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(pdb.Name)
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return forbiddenByBudget(pdb.Name, "pdb disruptions allowed is negative",
			fmt.Sprintf("The disruption budget %s does not allow evicting pods currently: pdb disruptions allowed is negative", pdb.Name))
	}
	if len(pdb.Status.DisruptedPods) > maxDisruptedPods {
		return forbiddenByBudget(pdb.Name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
			fmt.Sprintf("The disruption budget %s does not allow evicting pods currently: too many pending evictions not confirmed by PDB controller", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    policyv1.DisruptionBudgetCause,
			Message: noDisruptionMessage(&pdb),
		})
		return err
	}

	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		pdbhelper.UpdateDisruptionAllowedCondition(&pdb)
	}
	if dryRun {
		return nil
	}
	// The disruption controller must not count the pod as available while
	// its deletion is under way; it forgets entries that never happen.
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[podName] = metav1.Now()
	_, err := r.pdbs.PodDisruptionBudgets(namespace).UpdateStatus(ctx, &pdb, metav1.UpdateOptions{})
	return err
}

// noDisruptionMessage explains why a budget allows no disruption now.
func noDisruptionMessage(pdb *policyv1.PodDisruptionBudget) string {
	c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	switch {
	// A failed sync makes the health counts untrustworthy: say so first.
	case c != nil && c.Status == metav1.ConditionFalse && c.Message != "" && c.Reason == policyv1.SyncFailedReason:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently because it failed sync: %s", pdb.Name, c.Message)
	case pdb.Status.CurrentHealthy <= pdb.Status.DesiredHealthy:
		return fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)
	case c != nil && c.Status == metav1.ConditionFalse && c.Message != "":
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently (%s): %s", pdb.Name, c.Reason, c.Message)
	default:
		return fmt.Sprintf("The disruption budget %s does not allow evicting pods currently", pdb.Name)
	}
}

// podDisruptionBudgets returns the PDBs of the pod's namespace whose
// selector matches the pod. An invalid selector matches nothing.
func (r *EvictionREST) podDisruptionBudgets(ctx context.Context, pod *corev1.Pod) ([]policyv1.PodDisruptionBudget, error) {
	list, err := r.pdbs.PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []policyv1.PodDisruptionBudget
	for _, pdb := range list.Items {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

// propagateDryRun merges the request's dry-run into the eviction's delete
// options; the two must agree when both are set.
func propagateDryRun(eviction *policyv1.Eviction, options *metav1.CreateOptions) (*metav1.DeleteOptions, error) {
	if eviction.DeleteOptions == nil {
		return &metav1.DeleteOptions{DryRun: options.DryRun}, nil
	}
	if len(eviction.DeleteOptions.DryRun) == 0 {
		eviction.DeleteOptions.DryRun = options.DryRun
		return eviction.DeleteOptions, nil
	}
	if len(options.DryRun) == 0 {
		return eviction.DeleteOptions, nil
	}
	if !reflect.DeepEqual(options.DryRun, eviction.DeleteOptions.DryRun) {
		return nil, fmt.Errorf("Non-matching dry-run options in request and content: %v and %v", options.DryRun, eviction.DeleteOptions.DryRun)
	}
	return eviction.DeleteOptions, nil
}

// canIgnorePDB: a terminal pod already disrupted nothing more, a pending
// one has not started serving, a terminating one is going anyway.
func canIgnorePDB(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return !pod.DeletionTimestamp.IsZero()
}

// shouldEnforceResourceVersion is false for pods that can no longer become
// healthy (terminal or terminating).
func shouldEnforceResourceVersion(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || !pod.DeletionTimestamp.IsZero() {
		return false
	}
	return true
}

func resourceVersionIsUnset(options *metav1.DeleteOptions) bool {
	return options.Preconditions == nil || options.Preconditions.ResourceVersion == nil
}

func setPreconditionsResourceVersion(options *metav1.DeleteOptions, rv *string) {
	if options.Preconditions == nil {
		options.Preconditions = &metav1.Preconditions{}
	}
	options.Preconditions.ResourceVersion = rv
}

// tooManyRequests asks the client to retry: the budget is being processed.
func tooManyRequests(pdbName string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdbName),
	})
	return err
}

func forbiddenByBudget(pdbName, reason, cause string) error {
	err := apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), pdbName, errors.New(reason))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: cause,
	})
	return err
}
