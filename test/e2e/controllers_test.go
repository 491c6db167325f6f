//go:build e2e

package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// Timings of the controller tests: simulated nodes renew their Leases
// every 2s, so the node lifecycle controller can call a node unreachable
// after 10s of silence instead of upstream's 50s.
const (
	ctlLeaseFlags       = "--node-lease-duration=10s"
	ctlLeaseRenewFlag   = "--node-lease-renew-interval=2s"
	ctlNodeMonitorGrace = "node-monitor-grace-period=10s"
	// mainPoolLabel is on the three healthy simulated nodes (not on the
	// node the lifecycle test silences).
	mainPoolLabel = "e2e.skiff.dev/pool"
)

// TestControllers runs the kubectl scenarios of the controller-manager
// against one skiff server, each in its own namespace. Pods run on
// simulated nodes: three untainted nodes labelled pool=main (Job pods
// finish after 1s; deleted pods stop at once, as pause does), and one
// tainted node, lost-0, that the node lifecycle scenario silences. The
// slow scenarios (CronJob waits for the next minute, node lifecycle for
// the monitor grace period) run beside the others (with -parallel 2).
func TestControllers(t *testing.T) {
	s := framework.StartServer(t, framework.WithArgs(
		"--kube-controller-manager-arg", ctlNodeMonitorGrace,
		"--kube-controller-manager-arg", "node-monitor-period=1s"))
	framework.StartSimNodes(t, s, 3, "sim-", "--taints=", "--node-labels="+mainPoolLabel+"=main",
		"--job-pod-duration=1s", "--pod-stop-duration=0s", ctlLeaseFlags, ctlLeaseRenewFlag)
	lost := framework.StartSimNodes(t, s, 1, "lost-", "--taints="+lostTaint+"=true:NoSchedule",
		"--pod-stop-duration=0s", ctlLeaseFlags, ctlLeaseRenewFlag)

	// The CronJob's first Job comes at the next minute: create it first
	// and check on it last.
	cronJob := startCronJob(t, s)
	t.Run("group", func(t *testing.T) {
		t.Run("NodeLifecycle", func(t *testing.T) { t.Parallel(); testNodeLifecycle(t, s, lost) })
		t.Run("ServiceCIDRDeletion", func(t *testing.T) { t.Parallel(); testServiceCIDRDeletion(t, s) })
		t.Run("Others", func(t *testing.T) {
			t.Parallel()
			t.Run("EndpointsListReadyPods", func(t *testing.T) { testEndpointsListReadyPods(t, s) })
			t.Run("EvictionRespectsPDB", func(t *testing.T) { testEvictionRespectsPDB(t, s) })
			t.Run("DeploymentRollout", func(t *testing.T) { testDeploymentRollout(t, s) })
			t.Run("CascadeDeletion", func(t *testing.T) { testCascadeDeletion(t, s) })
			t.Run("StatefulSet", func(t *testing.T) { testStatefulSetOrdered(t, s) })
			t.Run("DaemonSet", func(t *testing.T) { testDaemonSetPerNode(t, s) })
			t.Run("IndexedJob", func(t *testing.T) { testIndexedJob(t, s) })
			t.Run("NamespaceDeletion", func(t *testing.T) { testNamespaceDeletion(t, s) })
			t.Run("ResourceClaimFromTemplate", func(t *testing.T) { testResourceClaimFromTemplate(t, s) })
			t.Run("Publishers", func(t *testing.T) { testPublishers(t, s) })
		})
	})
	t.Run("CronJob", cronJob)
}

// newTestNamespace creates a namespace that goes away with the test.
func newTestNamespace(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// podReady reports the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
