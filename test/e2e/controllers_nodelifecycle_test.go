//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// lostTaint keeps every pod but the node lifecycle scenario's off lost-0.
const lostTaint = "e2e.skiff.dev/lost"

// testNodeLifecycle: when lost-0 stops renewing its Lease, the node
// lifecycle controller marks it Ready=Unknown with the unreachable
// NoExecute taint and its pods not ready; the taint eviction controller
// evicts a pod tolerating the taint for 5s after those 5s, and keeps one
// that tolerates it for an hour.
func testNodeLifecycle(t *testing.T, s *framework.Server, lost *framework.SimNodes) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-nodelifecycle")
	pod := func(name string, seconds int) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  nodeSelector: {kubernetes.io/hostname: lost-0}
  tolerations:
  - {key: %s, operator: Exists, effect: NoSchedule}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: %d}
  containers: [{name: c, image: registry.k8s.io/pause:3.10}]
`, name, ns, lostTaint, seconds)
	}
	kubectlMust(t, s, pod("short", 5)+"---\n"+pod("long", 3600), "apply", "-f", "-")
	for _, name := range []string{"short", "long"} {
		eventuallyState(t, 30*time.Second, name+" running on lost-0", func() (bool, string) {
			p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Spec.NodeName == "lost-0" && podReady(p), fmt.Sprintf("node %q phase %s", p.Spec.NodeName, p.Status.Phase)
		})
	}

	// The node goes silent: its Lease and status are no longer renewed.
	lost.Stop()
	silent := time.Now()
	var tainted time.Time
	eventuallyState(t, 40*time.Second, "lost-0 unreachable", func() (bool, string) {
		n, err := c.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var ready *corev1.NodeCondition
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeReady {
				ready = &n.Status.Conditions[i]
			}
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoExecute && ready != nil &&
				ready.Status == corev1.ConditionUnknown && ready.Reason == "NodeStatusUnknown" {
				tainted = time.Now()
				return true, ""
			}
		}
		return false, fmt.Sprintf("taints %+v ready %+v", n.Spec.Taints, ready)
	})
	t.Logf("unreachable taint %v after the node went silent", tainted.Sub(silent).Round(100*time.Millisecond))
	if d := tainted.Sub(silent); d < 7*time.Second {
		t.Errorf("node tainted %v after it went silent, before the 10s grace period", d)
	}

	var evicted time.Time
	eventuallyState(t, 30*time.Second, "short evicted", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			evicted = time.Now()
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		if p.DeletionTimestamp == nil {
			return false, "not deleted"
		}
		evicted = time.Now()
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.DisruptionTarget && cond.Reason == "DeletionByTaintManager" {
				return true, ""
			}
		}
		t.Errorf("evicted pod has no DisruptionTarget condition: %+v", p.Status.Conditions)
		return true, ""
	})
	if d := evicted.Sub(tainted); d < 4*time.Second {
		t.Errorf("pod evicted %v after the taint, before its tolerationSeconds (5s)", d)
	}
	p, err := c.CoreV1().Pods(ns).Get(ctx, "long", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.DeletionTimestamp != nil {
		t.Errorf("pod tolerating the taint for an hour was evicted")
	}
	if podReady(p) {
		t.Errorf("pod on the unreachable node is still Ready")
	}
}
