package simulator

import (
	"context"
	"net"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestSubnetsAndIPs(t *testing.T) {
	n, err := nthSubnet("10.64.0.0/10", 257)
	if err != nil || n.String() != "10.65.1.0/24" {
		t.Fatalf("nthSubnet = %v, %v; want 10.65.1.0/24", n, err)
	}
	if _, err := nthSubnet("10.0.0.0/23", 2); err == nil {
		t.Fatal("a /23 has only two /24s")
	}
	ip, err := nthIP("172.30.0.0/16", 0)
	if err != nil || ip != "172.30.0.1" {
		t.Fatalf("nthIP = %v, %v", ip, err)
	}
	node := &simNode{name: "n", podNet: n, ips: map[types.UID]net.IP{}, used: map[string]bool{}}
	a, _ := node.allocateIP("a")
	b, _ := node.allocateIP("b")
	again, _ := node.allocateIP("a")
	if a != "10.65.1.2" || b != "10.65.1.3" || again != a {
		t.Fatalf("allocations a=%s b=%s again=%s", a, b, again)
	}
	node.releaseIP("a")
	if c, _ := node.allocateIP("c"); c != "10.65.1.2" {
		t.Fatalf("released address not reused: %s", c)
	}
}

func TestParseTaints(t *testing.T) {
	o := NewOptions()
	o.Taints = []string{"a=b:NoSchedule", "c:PreferNoSchedule"}
	taints, err := o.parseTaints()
	if err != nil || len(taints) != 2 || taints[0].Value != "b" || taints[1].Key != "c" || taints[1].Effect != v1.TaintEffectPreferNoSchedule {
		t.Fatalf("parseTaints = %+v, %v", taints, err)
	}
	for _, bad := range []string{"novalue", "a=b:Sometimes", ":NoSchedule"} {
		o.Taints = []string{bad}
		if _, err := o.parseTaints(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func startSim(t *testing.T, ctx context.Context, opts *Options) (*fake.Clientset, *Simulator) {
	t.Helper()
	cs := fake.NewClientset()
	s, err := New(opts, cs)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Run(ctx) }()
	waitFor(t, "nodes registered", func() bool {
		nodes, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return len(nodes.Items) == opts.Count
	})
	return cs, s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestNodesAndLeases(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := NewOptions()
	opts.Count, opts.Zones, opts.CPU = 3, 2, "8"
	cs, _ := startSim(t, ctx, opts)
	node, err := cs.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels[SimulatedLabel] != "true" || node.Labels[v1.LabelTopologyZone] != "zone-1" || node.Labels[v1.LabelHostname] != "sim-1" {
		t.Errorf("labels = %v", node.Labels)
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != SimulatedLabel || node.Spec.Taints[0].Effect != v1.TaintEffectNoSchedule {
		t.Errorf("taints = %v", node.Spec.Taints)
	}
	if q := node.Status.Allocatable[v1.ResourceCPU]; q.String() != "8" {
		t.Errorf("allocatable cpu = %s", q.String())
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Error("node is not Ready")
	}
	waitFor(t, "leases", func() bool {
		l, err := cs.CoordinationV1().Leases(NodeLeaseNamespace).Get(ctx, "sim-2", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "sim-2" && l.Spec.RenewTime != nil
	})
}

func TestPodLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := NewOptions()
	opts.Count = 1
	cs, _ := startSim(t, ctx, opts)
	pods := cs.CoreV1().Pods("default")

	// A plain pod runs, with an IP of the node's subnet.
	mk := func(name string, mod func(*v1.Pod)) {
		p := &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
			Spec: v1.PodSpec{NodeName: "sim-0", RestartPolicy: v1.RestartPolicyNever,
				Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
		}
		if mod != nil {
			mod(p)
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("web", nil)
	var web *v1.Pod
	waitFor(t, "web running", func() bool {
		web, _ = pods.Get(ctx, "web", metav1.GetOptions{})
		return web.Status.Phase == v1.PodRunning
	})
	if web.Status.PodIP != "10.64.0.2" || web.Status.HostIP != "172.30.0.1" {
		t.Errorf("podIP=%s hostIP=%s", web.Status.PodIP, web.Status.HostIP)
	}
	if len(web.Status.ContainerStatuses) != 1 || !web.Status.ContainerStatuses[0].Ready || web.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("container statuses = %+v", web.Status.ContainerStatuses)
	}
	readyCond := false
	for _, c := range web.Status.Conditions {
		if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
			readyCond = true
		}
	}
	if !readyCond {
		t.Errorf("conditions = %+v", web.Status.Conditions)
	}

	// A pod with a run duration completes; a failing one fails.
	mk("batch", func(p *v1.Pod) { p.Annotations = map[string]string{RunDurationAnnotation: "50ms"} })
	mk("crash", func(p *v1.Pod) {
		p.Annotations = map[string]string{RunDurationAnnotation: "50ms", ExitCodeAnnotation: "3"}
	})
	waitFor(t, "batch succeeded, crash failed", func() bool {
		b, _ := pods.Get(ctx, "batch", metav1.GetOptions{})
		c, _ := pods.Get(ctx, "crash", metav1.GetOptions{})
		return b.Status.Phase == v1.PodSucceeded && c.Status.Phase == v1.PodFailed
	})
	c, _ := pods.Get(ctx, "crash", metav1.GetOptions{})
	if term := c.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 {
		t.Errorf("crash container state = %+v", c.Status.ContainerStatuses[0].State)
	}

	// A pod being deleted goes away when its grace period ends.
	web, _ = pods.Get(ctx, "web", metav1.GetOptions{})
	web.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(300 * time.Millisecond)}
	web.DeletionGracePeriodSeconds = ptr.To[int64](1)
	if _, err := pods.Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := pods.Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("web deleted before its grace period ended: %v", err)
	}
	waitFor(t, "web deleted", func() bool {
		_, err := pods.Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
