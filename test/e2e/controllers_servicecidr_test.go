//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testServiceCIDRDeletion: an extra ServiceCIDR becomes Ready and takes
// ClusterIPs; deleted while a Service holds an IP only it covers, it stays
// (Ready=False, Terminating) and takes no new IPs; once the Service goes, so
// does the ServiceCIDR.
func testServiceCIDRDeletion(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "servicecidr")
	const name = "e2e-extra"
	cidrs := c.NetworkingV1().ServiceCIDRs()

	waitCIDR := func(what string, ok func(*networkingv1.ServiceCIDR, error) bool) {
		t.Helper()
		var last *networkingv1.ServiceCIDR
		var lastErr error
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			last, lastErr = cidrs.Get(ctx, name, metav1.GetOptions{})
			return ok(last, lastErr), nil
		}); err != nil {
			t.Fatalf("ServiceCIDR %s never %s: last %+v, err %v", name, what, last, lastErr)
		}
	}
	readyIs := func(sc *networkingv1.ServiceCIDR, status metav1.ConditionStatus, reason string) bool {
		cond := apimeta.FindStatusCondition(sc.Status.Conditions, networkingv1.ServiceCIDRConditionReady)
		return cond != nil && cond.Status == status && cond.Reason == reason
	}
	service := func(name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}}}
	}

	if _, err := cidrs.Create(ctx, &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.200.0.0/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cidrs.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	waitCIDR("protected and Ready", func(sc *networkingv1.ServiceCIDR, err error) bool {
		return err == nil && slices.Contains(sc.Finalizers, "networking.k8s.io/service-cidr-finalizer") && readyIs(sc, metav1.ConditionTrue, "")
	})

	var svc *corev1.Service
	// The API server's allocator sees the range once its informer does.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		svc, err = c.CoreV1().Services(ns).Create(ctx, service("in-extra", "10.200.0.10"), metav1.CreateOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("a Service with ClusterIP 10.200.0.10 was never admitted: %v", err)
	}

	if err := cidrs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCIDR("Terminating", func(sc *networkingv1.ServiceCIDR, err error) bool {
		return err == nil && readyIs(sc, metav1.ConditionFalse, networkingv1.ServiceCIDRReasonTerminating)
	})
	if _, err := c.CoreV1().Services(ns).Create(ctx, service("late", "10.200.0.11"), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("a Service in a terminating ServiceCIDR: err = %v, want Invalid", err)
	}
	// It stays while the Service holds its IP (well past the grace period).
	time.Sleep(12 * time.Second)
	if _, err := cidrs.Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Fatalf("ServiceCIDR with a Service IP in it went away: %v", err)
	}

	start := time.Now()
	if err := c.CoreV1().Services(ns).Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCIDR("deleted", func(_ *networkingv1.ServiceCIDR, err error) bool { return apierrors.IsNotFound(err) })
	t.Logf("ServiceCIDR gone %v after its last Service", time.Since(start).Round(time.Millisecond))
}
