package bootstrappolicy

import (
	"context"
	"fmt"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	"k8s.io/klog/v2"
)

// Reconcile creates the default roles and bindings and brings existing ones
// up to date with upstream's reconcile rules: missing rules and subjects
// are added, user additions are kept, and objects annotated
// rbac.authorization.kubernetes.io/autoupdate=false are left alone. It
// retries for up to a minute, as upstream's rbac/bootstrap-roles hook.
func Reconcile(ctx context.Context, client kubernetes.Interface) error {
	start := time.Now()
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		// Make sure storage answers before reconciling.
		if _, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			lastErr = err
			return false, nil
		}
		lastErr = reconcileOnce(client)
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("unable to initialize roles: %w (last error: %v)", err, lastErr)
	}
	klog.InfoS("Bootstrap RBAC policy reconciled", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// reconcileWorkers reconcile objects in parallel: they are independent,
// and one at a time the round trips add up to seconds at every start.
const reconcileWorkers = 8

func reconcileOnce(client kubernetes.Interface) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		jobs = make(chan func())
	)
	for range reconcileWorkers {
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	retrying := func(what string, fn func() error) {
		jobs <- func() {
			err := retry.OnError(retry.DefaultBackoff, func(err error) bool {
				return apierrors.IsConflict(err) || apierrors.IsServiceUnavailable(err)
			}, fn)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("reconcile %s: %w", what, err))
				mu.Unlock()
			}
		}
	}
	rbac := client.RbacV1()
	for _, role := range ClusterRoles() {
		retrying("clusterrole "+role.Name, func() error {
			result, err := (&reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: role.DeepCopy()},
				Client:  reconciliation.ClusterRoleModifier{Client: rbac.ClusterRoles()},
				Confirm: true,
			}).Run()
			if err == nil {
				logRoleResult("clusterrole", role.Name, "", result.Operation, result.Protected, result.MissingRules)
			}
			return err
		})
	}
	for _, binding := range ClusterRoleBindings() {
		retrying("clusterrolebinding "+binding.Name, func() error {
			result, err := (&reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: binding.DeepCopy()},
				Client:      reconciliation.ClusterRoleBindingClientAdapter{Client: rbac.ClusterRoleBindings()},
				Confirm:     true,
			}).Run()
			if err == nil {
				logBindingResult("clusterrolebinding", binding.Name, "", result.Operation, result.Protected, result.MissingSubjects)
			}
			return err
		})
	}
	for _, role := range Roles() {
		retrying("role "+role.Namespace+"/"+role.Name, func() error {
			result, err := (&reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.RoleRuleOwner{Role: role.DeepCopy()},
				Client:  reconciliation.RoleModifier{Client: rbac, NamespaceClient: client.CoreV1().Namespaces()},
				Confirm: true,
			}).Run()
			if err == nil {
				logRoleResult("role", role.Name, role.Namespace, result.Operation, result.Protected, result.MissingRules)
			}
			return err
		})
	}
	for _, binding := range RoleBindings() {
		retrying("rolebinding "+binding.Namespace+"/"+binding.Name, func() error {
			result, err := (&reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: binding.DeepCopy()},
				Client:      reconciliation.RoleBindingClientAdapter{Client: rbac, NamespaceClient: client.CoreV1().Namespaces()},
				Confirm:     true,
			}).Run()
			if err == nil {
				logBindingResult("rolebinding", binding.Name, binding.Namespace, result.Operation, result.Protected, result.MissingSubjects)
			}
			return err
		})
	}
	close(jobs)
	wg.Wait()
	return utilerrors.NewAggregate(errs)
}

func logRoleResult(kind, name, namespace string, op reconciliation.ReconcileOperation, protected bool, missing []rbacv1.PolicyRule) {
	switch {
	case protected && op != reconciliation.ReconcileNone:
		klog.InfoS("Skipped reconcile-protected RBAC role with missing permissions", "kind", kind, "namespace", namespace, "name", name, "missing", missing)
	case op == reconciliation.ReconcileUpdate:
		klog.V(2).InfoS("Updated RBAC role with additional permissions", "kind", kind, "namespace", namespace, "name", name, "missing", missing)
	case op == reconciliation.ReconcileCreate:
		klog.V(2).InfoS("Created RBAC role", "kind", kind, "namespace", namespace, "name", name)
	}
}

func logBindingResult(kind, name, namespace string, op reconciliation.ReconcileOperation, protected bool, missing []rbacv1.Subject) {
	switch {
	case protected && op != reconciliation.ReconcileNone:
		klog.InfoS("Skipped reconcile-protected RBAC binding with missing subjects", "kind", kind, "namespace", namespace, "name", name, "missing", missing)
	case op == reconciliation.ReconcileUpdate:
		klog.V(2).InfoS("Updated RBAC binding with additional subjects", "kind", kind, "namespace", namespace, "name", name, "missing", missing)
	case op == reconciliation.ReconcileCreate, op == reconciliation.ReconcileRecreate:
		klog.V(2).InfoS("Created RBAC binding", "kind", kind, "namespace", namespace, "name", name)
	}
}
