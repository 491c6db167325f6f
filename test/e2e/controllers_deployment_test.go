//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testDeploymentRollout: `kubectl set image` rolls a Deployment whose pods
// the simulated node makes ready, never below replicas - maxUnavailable
// available; rollout status, history and undo behave as upstream.
func testDeploymentRollout(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-rollout")
	kubectlMust(t, s, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "registry.k8s.io/pause:3.9"}]}
`, ns), "apply", "-f", "-")
	kubectlMust(t, s, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")

	// Watch availability while the new image rolls out.
	var minAvailable atomic.Int32
	minAvailable.Store(4)
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for watchCtx.Err() == nil {
			if d, err := c.AppsV1().Deployments(ns).Get(watchCtx, "web", metav1.GetOptions{}); err == nil && d.Status.AvailableReplicas < minAvailable.Load() {
				minAvailable.Store(d.Status.AvailableReplicas)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	kubectlMust(t, s, "", "set", "image", "deployment/web", "web=registry.k8s.io/pause:3.10", "-n", ns)
	out := kubectlMust(t, s, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
	stop()
	<-done
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %s", out)
	}
	if got := minAvailable.Load(); got < 3 {
		t.Errorf("available replicas fell to %d during the rollout, maxUnavailable is 1", got)
	}
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.UpdatedReplicas != 4 || d.Status.AvailableReplicas != 4 || d.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("deployment status %+v, revision %q", d.Status, d.Annotations["deployment.kubernetes.io/revision"])
	}
	if out := kubectlMust(t, s, "", "rollout", "history", "deployment/web", "-n", ns); !strings.Contains(out, "1         <none>") || !strings.Contains(out, "2         <none>") {
		t.Errorf("rollout history:\n%s", out)
	}

	// Undo goes back to the first image (as revision 3).
	kubectlMust(t, s, "", "rollout", "undo", "deployment/web", "-n", ns)
	kubectlMust(t, s, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
	d, err = c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.k8s.io/pause:3.9" || d.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Errorf("after undo: image %s revision %s", img, d.Annotations["deployment.kubernetes.io/revision"])
	}

	// Pause holds a change back: the controller observes the new
	// template but makes no new revision; resume rolls it.
	// (A template of a new image: with one that an old ReplicaSet holds,
	// upstream re-numbers that ReplicaSet even while paused.)
	kubectlMust(t, s, "", "rollout", "pause", "deployment/web", "-n", ns)
	kubectlMust(t, s, "", "set", "image", "deployment/web", "web=registry.k8s.io/pause:3.11", "-n", ns)
	eventuallyState(t, 30*time.Second, "paused change observed", func() (bool, string) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.ObservedGeneration == d.Generation, fmt.Sprintf("observed %d of %d", d.Status.ObservedGeneration, d.Generation)
	})
	d, err = c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev := d.Annotations["deployment.kubernetes.io/revision"]; rev != "3" || d.Status.UpdatedReplicas != 0 {
		t.Errorf("paused deployment: revision %s, %d updated replicas", rev, d.Status.UpdatedReplicas)
	}
	if !hasDeploymentCondition(d, appsv1.DeploymentProgressing, "DeploymentPaused") {
		t.Errorf("paused deployment conditions: %+v", d.Status.Conditions)
	}
	kubectlMust(t, s, "", "rollout", "resume", "deployment/web", "-n", ns)
	kubectlMust(t, s, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
	d, err = c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; d.Status.UpdatedReplicas != 4 || img != "registry.k8s.io/pause:3.11" {
		t.Errorf("after resume: image %s, %d updated replicas", img, d.Status.UpdatedReplicas)
	}
	if rev := d.Annotations["deployment.kubernetes.io/revision"]; rev != "4" {
		t.Errorf("after resume: revision %s, want 4", rev)
	}

	// Restart stamps the template and rolls every pod again.
	before := podNames(t, c, ns, "app=web")
	kubectlMust(t, s, "", "rollout", "restart", "deployment/web", "-n", ns)
	kubectlMust(t, s, "", "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
	d, err = c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || d.Annotations["deployment.kubernetes.io/revision"] != "5" {
		t.Errorf("after restart: template annotations %v, revision %s", d.Spec.Template.Annotations, d.Annotations["deployment.kubernetes.io/revision"])
	}
	eventuallyState(t, 30*time.Second, "every pod replaced by the restart", func() (bool, string) {
		after := podNames(t, c, ns, "app=web")
		for n := range after {
			if before[n] {
				return false, fmt.Sprint(after)
			}
		}
		return len(after) == 4, fmt.Sprint(after)
	})
}

// podNames lists the names of the live (not terminating) pods matching
// selector.
func podNames(t *testing.T, c kubernetes.Interface, ns, selector string) map[string]bool {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = true
		}
	}
	return out
}

func hasDeploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType, reason string) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ && c.Reason == reason {
			return true
		}
	}
	return false
}

// testCascadeDeletion: deleting a Deployment with --cascade=background,
// foreground and orphan treats its ReplicaSet and pods as upstream.
func testCascadeDeletion(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-cascade")
	create := func(name string) *appsv1.ReplicaSet {
		t.Helper()
		kubectlMust(t, s, "", "create", "deployment", name, "-n", ns, "--image=registry.k8s.io/pause:3.10", "--replicas=2")
		kubectlMust(t, s, "", "rollout", "status", "deployment/"+name, "-n", ns, "--timeout=60s")
		rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(rss.Items) != 1 {
			t.Fatalf("replica sets of %s: %v %v", name, rss, err)
		}
		return &rss.Items[0]
	}
	pods := func(name string) int {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	rsGone := func(rs *appsv1.ReplicaSet) func() (bool, string) {
		return func() (bool, string) {
			_, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}
	}

	// Background: the Deployment goes at once, then its dependents.
	rs := create("bg")
	kubectlMust(t, s, "", "delete", "deployment", "bg", "-n", ns, "--cascade=background", "--wait=false")
	eventuallyState(t, 30*time.Second, "background: replica set deleted", rsGone(rs))
	eventuallyState(t, 30*time.Second, "background: pods deleted", func() (bool, string) { n := pods("bg"); return n == 0, fmt.Sprint(n) })

	// Foreground: the Deployment stays, with the foregroundDeletion
	// finalizer, until its dependents are gone.
	rs = create("fg")
	kubectlMust(t, s, "", "delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--wait=false")
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "fg", metav1.GetOptions{})
	if err == nil && (d.DeletionTimestamp == nil || len(d.Finalizers) == 0 || d.Finalizers[0] != metav1.FinalizerDeleteDependents) {
		t.Errorf("foreground deletion: deployment %+v", d.ObjectMeta)
	}
	eventuallyState(t, 30*time.Second, "foreground: deployment deleted after its dependents", func() (bool, string) {
		_, err := c.AppsV1().Deployments(ns).Get(ctx, "fg", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if ok, _ := rsGone(rs)(); !ok {
		t.Errorf("foreground: replica set outlived its deployment")
	}

	// Orphan: the ReplicaSet and pods stay, without the owner reference.
	rs = create("orphan")
	kubectlMust(t, s, "", "delete", "deployment", "orphan", "-n", ns, "--cascade=orphan")
	eventuallyState(t, 30*time.Second, "orphan: replica set released", func() (bool, string) {
		got, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(got.OwnerReferences) == 0, fmt.Sprint(got.OwnerReferences)
	})
	eventuallyState(t, 30*time.Second, "orphan: deployment deleted", func() (bool, string) {
		_, err := c.AppsV1().Deployments(ns).Get(ctx, "orphan", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if n := pods("orphan"); n != 2 {
		t.Errorf("orphan: %d pods left, want 2", n)
	}
}
