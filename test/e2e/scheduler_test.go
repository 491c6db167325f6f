//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// The scheduler tests share one server with four simulated nodes:
// sim-0 and sim-2 in zone-0, sim-1 and sim-3 in zone-1, 4 cpu and 8Gi each,
// tainted skiff.io/simulated=true:NoSchedule.
func TestScheduler(t *testing.T) {
	s := framework.StartServer(t)
	framework.StartSimNodes(t, s, 4, "sim-", "--zones", "2", "--cpu", "4", "--memory", "8Gi")
	c := s.Client()

	t.Run("leader lease", func(t *testing.T) {
		waitFor(t, "the kube-scheduler Lease", func() bool {
			l, err := c.CoordinationV1().Leases("kube-system").Get(t.Context(), "kube-scheduler", metav1.GetOptions{})
			return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
		})
	})

	t.Run("nodeSelector", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("p", nil)
		p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "sim-2"}
		if got := scheduled(t, c, create(t, c, ns, p)); got != "sim-2" {
			t.Errorf("placed on %s, want sim-2", got)
		}
	})

	t.Run("required node affinity", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("p", nil)
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: v1.LabelTopologyZone, Operator: v1.NodeSelectorOpIn, Values: []string{"zone-1"}}}}}}}}
		if got := scheduled(t, c, create(t, c, ns, p)); got != "sim-1" && got != "sim-3" {
			t.Errorf("placed on %s, want a zone-1 node", got)
		}
	})

	t.Run("preferred node affinity", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("p", nil)
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{
			Weight: 100, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{"sim-3"}}}}}}}}
		if got := scheduled(t, c, create(t, c, ns, p)); got != "sim-3" {
			t.Errorf("placed on %s, want the preferred sim-3", got)
		}
	})

	t.Run("taints and tolerations", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("p", nil)
		p.Spec.Tolerations = nil
		create(t, c, ns, p)
		msg := unschedulable(t, c, ns, "p")
		want := "0/4 nodes are available: 4 node(s) had untolerated taint(s). preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
		if msg != want {
			t.Errorf("message:\n got %q\nwant %q", msg, want)
		}
		// The same message is recorded as a FailedScheduling event.
		waitFor(t, "a FailedScheduling event", func() bool {
			evs, _ := c.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=p,reason=FailedScheduling"})
			return len(evs.Items) > 0 && evs.Items[0].Message == want && evs.Items[0].Type == v1.EventTypeWarning
		})
	})

	t.Run("resource fit", func(t *testing.T) {
		ns := namespace(t, c)
		create(t, c, ns, simPod("big", v1.ResourceList{v1.ResourceCPU: resource.MustParse("5")}))
		want := "0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
		if msg := unschedulable(t, c, ns, "big"); msg != want {
			t.Errorf("message:\n got %q\nwant %q", msg, want)
		}
		// Three pods of 3 cpu take three nodes; the fourth goes to the last.
		nodes := map[string]bool{}
		for i := 0; i < 4; i++ {
			nodes[scheduled(t, c, create(t, c, ns, simPod(fmt.Sprintf("p%d", i), v1.ResourceList{v1.ResourceCPU: resource.MustParse("3")})))] = true
		}
		if len(nodes) != 4 {
			t.Errorf("3-cpu pods share nodes: %v", nodes)
		}
	})

	t.Run("host ports", func(t *testing.T) {
		ns := namespace(t, c)
		withPort := func(name string) *v1.Pod {
			p := simPod(name, nil)
			p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "sim-0"}
			p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
			return p
		}
		scheduled(t, c, create(t, c, ns, withPort("first")))
		create(t, c, ns, withPort("second"))
		want := "0/4 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling."
		if msg := unschedulable(t, c, ns, "second"); msg != want {
			t.Errorf("message:\n got %q\nwant %q", msg, want)
		}
		// Freeing the port lets the second pod in.
		deletePod(t, c, ns, "first")
		if got := scheduled(t, c, getPod(t, c, ns, "second")); got != "sim-0" {
			t.Errorf("second placed on %s", got)
		}
	})

	t.Run("pod anti-affinity and affinity", func(t *testing.T) {
		ns := namespace(t, c)
		anti := func(name string) *v1.Pod {
			p := simPod(name, nil)
			p.Labels = map[string]string{"app": "spread"}
			p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}}}}}}
			return p
		}
		nodes := map[string]bool{}
		for i := 0; i < 4; i++ {
			nodes[scheduled(t, c, create(t, c, ns, anti(fmt.Sprintf("a%d", i))))] = true
		}
		if len(nodes) != 4 {
			t.Errorf("anti-affine pods share nodes: %v", nodes)
		}
		create(t, c, ns, anti("a4"))
		want := "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
		if msg := unschedulable(t, c, ns, "a4"); msg != want {
			t.Errorf("message:\n got %q\nwant %q", msg, want)
		}

		db := simPod("db", nil)
		db.Labels = map[string]string{"app": "db"}
		db.Spec.NodeSelector = map[string]string{v1.LabelHostname: "sim-1"}
		scheduled(t, c, create(t, c, ns, db))
		web := simPod("web", nil)
		web.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey: v1.LabelTopologyZone, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
		if got := scheduled(t, c, create(t, c, ns, web)); got != "sim-1" && got != "sim-3" {
			t.Errorf("web placed on %s, want db's zone (zone-1)", got)
		}
	})

	t.Run("topology spread", func(t *testing.T) {
		ns := namespace(t, c)
		perZone := map[string]int{}
		for i := 0; i < 6; i++ {
			p := simPod(fmt.Sprintf("s%d", i), nil)
			p.Labels = map[string]string{"app": "ts"}
			p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone,
				WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ts"}}}}
			node := scheduled(t, c, create(t, c, ns, p))
			n, _ := c.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
			perZone[n.Labels[v1.LabelTopologyZone]]++
			if d := perZone["zone-0"] - perZone["zone-1"]; d > 1 || d < -1 {
				t.Fatalf("skew %d after %d pods: %v", d, i+1, perZone)
			}
		}
		if perZone["zone-0"] != 3 || perZone["zone-1"] != 3 {
			t.Errorf("zones %v, want 3/3", perZone)
		}
	})

	t.Run("preemption", func(t *testing.T) {
		ns := namespace(t, c)
		values := map[string]int32{"e2e-low": 100, "e2e-high": 1000000}
		for name, value := range values {
			pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
			if _, err := c.SchedulingV1().PriorityClasses().Create(t.Context(), pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = c.SchedulingV1().PriorityClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
			})
		}
		pinned := func(name, class string) *v1.Pod {
			p := simPod(name, v1.ResourceList{v1.ResourceCPU: resource.MustParse("3")})
			p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "sim-2"}
			p.Spec.PriorityClassName = class
			// skiff's API server has no Priority admission plugin yet, so
			// the test sets the value the plugin would compute.
			p.Spec.Priority = ptr.To(values[class])
			p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
			return p
		}
		low := create(t, c, ns, pinned("low", "e2e-low"))
		scheduled(t, c, low)
		// The nomination is cleared again by the binding, so watch for it.
		w, err := c.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=high"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		nominated := make(chan string, 1)
		go func() {
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*v1.Pod); ok && p.Status.NominatedNodeName != "" {
					nominated <- p.Status.NominatedNodeName
					return
				}
			}
		}()
		create(t, c, ns, pinned("high", "e2e-high"))
		if got := scheduled(t, c, getPod(t, c, ns, "high")); got != "sim-2" {
			t.Errorf("high placed on %s", got)
		}
		select {
		case n := <-nominated:
			if n != "sim-2" {
				t.Errorf("nominated to %s, want sim-2", n)
			}
		case <-time.After(5 * time.Second):
			t.Error("the preemptor was never nominated")
		}
		waitFor(t, "the victim gone", func() bool {
			_, err := c.CoreV1().Pods(ns).Get(t.Context(), "low", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		evs, _ := c.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		var preempted, failed string
		for _, e := range evs.Items {
			switch {
			case e.Reason == "Preempted" && e.InvolvedObject.Name == "low":
				preempted = e.Message
			case e.Reason == "FailedScheduling" && e.InvolvedObject.Name == "high":
				failed = e.Message
			}
		}
		if want := fmt.Sprintf("Preempted by pod %s on node sim-2", getPod(t, c, ns, "high").UID); preempted != want {
			t.Errorf("Preempted event %q, want %q", preempted, want)
		}
		if want := "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't match Pod's node affinity/selector. preemption: found a potential placement for pod on node sim-2, preempting 1 victims"; failed != want {
			t.Errorf("FailedScheduling event:\n got %q\nwant %q", failed, want)
		}
	})

	t.Run("schedulable when a node is added", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("late", nil)
		p.Spec.NodeSelector = map[string]string{"e2e": "late"}
		create(t, c, ns, p)
		want := "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
		if msg := unschedulable(t, c, ns, "late"); msg != want {
			t.Errorf("message:\n got %q\nwant %q", msg, want)
		}
		start := time.Now()
		framework.StartSimNodes(t, s, 1, "late-", "--node-labels", "e2e=late", "--node-ip-range", "172.31.0.0/16", "--pod-cidr", "10.200.0.0/16", "--delete-nodes-on-exit")
		if got := scheduled(t, c, getPod(t, c, ns, "late")); got != "late-0" {
			t.Errorf("placed on %s", got)
		}
		// The node event requeues the pod; no 5-minute flush is involved.
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("took %s to schedule after the node appeared", took)
		}
	})

	t.Run("simulated pods run and complete", func(t *testing.T) {
		ns := namespace(t, c)
		p := simPod("batch", nil)
		p.Annotations = map[string]string{"skiff.io/simulated-run-duration": "1s"}
		p.Spec.RestartPolicy = v1.RestartPolicyNever
		create(t, c, ns, p)
		waitFor(t, "batch running with an IP", func() bool {
			got := getPod(t, c, ns, "batch")
			return got.Status.Phase == v1.PodRunning && got.Status.PodIP != "" || got.Status.Phase == v1.PodSucceeded
		})
		waitFor(t, "batch succeeded", func() bool { return getPod(t, c, ns, "batch").Status.Phase == v1.PodSucceeded })
	})
}

var nsCounter int

func namespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("sched-%d", nsCounter)
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Free the nodes for the next test at once.
		ctx := context.Background()
		_ = c.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			pods, err := c.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
			if err == nil && len(pods.Items) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// simPod tolerates the simulated nodes' taint.
func simPod(name string, requests v1.ResourceList) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PodSpec{
			Tolerations: []v1.Toleration{{Key: "skiff.io/simulated", Operator: v1.TolerationOpExists}},
			Containers:  []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{Requests: requests}}},
		},
	}
}

func create(t *testing.T, c kubernetes.Interface, ns string, p *v1.Pod) *v1.Pod {
	t.Helper()
	out, err := c.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

func getPod(t *testing.T, c kubernetes.Interface, ns, name string) *v1.Pod {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func deletePod(t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := c.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
}

// scheduled waits for the pod to be bound and running, and names its node.
func scheduled(t *testing.T, c kubernetes.Interface, p *v1.Pod) string {
	t.Helper()
	var node string
	waitFor(t, "pod "+p.Name+" running", func() bool {
		got, err := c.CoreV1().Pods(p.Namespace).Get(t.Context(), p.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		node = got.Spec.NodeName
		return node != "" && got.Status.Phase == v1.PodRunning
	})
	return node
}

// unschedulable waits for the pod's PodScheduled=False condition and
// returns its message.
func unschedulable(t *testing.T, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	var msg string
	waitFor(t, "pod "+name+" unschedulable", func() bool {
		p := getPod(t, c, ns, name)
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				return true
			}
		}
		return false
	})
	if strings.TrimSpace(msg) == "" {
		t.Errorf("pod %s has an empty PodScheduled message", name)
	}
	return msg
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSchedulerConfig runs the scheduler with a KubeSchedulerConfiguration
// file: profiles, disabled plugins and plugin args take effect.
func TestSchedulerConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "scheduler.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    filter:
      disabled:
      - name: TaintToleration
- schedulerName: bin-packer
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := framework.StartServer(t, framework.WithArgs("--scheduler-config", cfg))
	framework.StartSimNodes(t, s, 2, "sim-", "--cpu", "4")
	c := s.Client()
	ns := namespace(t, c)

	// Without the taint filter the toleration is not needed.
	p := simPod("untolerating", nil)
	p.Spec.Tolerations = nil
	scheduled(t, c, create(t, c, ns, p))

	// MostAllocated packs the second pod onto the first one's node.
	var nodes []string
	for i := 0; i < 2; i++ {
		p := simPod(fmt.Sprintf("packed-%d", i), v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")})
		p.Spec.SchedulerName = "bin-packer"
		nodes = append(nodes, scheduled(t, c, create(t, c, ns, p)))
	}
	if nodes[0] != nodes[1] {
		t.Errorf("bin-packer spread pods over %v", nodes)
	}

	// Pods for another scheduler are left alone.
	other := simPod("other", nil)
	other.Spec.SchedulerName = "someone-else"
	create(t, c, ns, other)
	time.Sleep(2 * time.Second)
	got := getPod(t, c, ns, "other")
	if got.Spec.NodeName != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("pod of another scheduler touched: node %q, conditions %v", got.Spec.NodeName, got.Status.Conditions)
	}
}
