//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testEvictionRespectsPDB: with a budget that allows no disruption, an
// eviction gets 429; once the budget allows one, it succeeds.
func testEvictionRespectsPDB(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-pdb")
	kubectlMust(t, s, "", "create", "deployment", "web", "-n", ns, "--image=registry.k8s.io/pause:3.10", "--replicas=2")
	kubectlMust(t, s, "", "create", "pdb", "web", "-n", ns, "--selector=app=web", "--min-available=2")
	eventuallyState(t, 60*time.Second, "PDB status computed", func() (bool, string) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st := pdb.Status
		return st.CurrentHealthy == 2 && st.DesiredHealthy == 2 && st.ExpectedPods == 2 && st.ObservedGeneration == pdb.Generation,
			fmt.Sprintf("%+v", st)
	})
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods: %v %v", pods, err)
	}
	evict := func(name string) error {
		return c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	err = evict(pods.Items[0].Name)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("eviction breaking the budget: %v, want 429", err)
	}
	// kubectl reports the status of the PDB like upstream.
	if out := kubectlMust(t, s, "", "get", "pdb", "web", "-n", ns); !strings.Contains(out, "web    2               N/A               0") {
		t.Errorf("kubectl get pdb:\n%s", out)
	}

	kubectlMust(t, s, "", "patch", "pdb", "web", "-n", ns, "--type=merge", "-p", `{"spec":{"minAvailable":1}}`)
	eventuallyState(t, 30*time.Second, "PDB allows one disruption", func() (bool, string) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pdb.Status.DisruptionsAllowed == 1 && pdb.Status.ObservedGeneration == pdb.Generation, fmt.Sprintf("%+v", pdb.Status)
	})
	if err := evict(pods.Items[0].Name); err != nil {
		t.Fatalf("eviction within the budget: %v", err)
	}
	err = evict(pods.Items[1].Name)
	if !apierrors.IsTooManyRequests(err) {
		t.Errorf("second eviction: %v, want 429 (the first is still counted as disrupted)", err)
	}
}
