package nodelifecycle

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type world struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	clock   *clocktesting.FakeClock
	start   time.Time
}

func newWorld(t *testing.T) *world {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	c, err := NewController(client, factory.Coordination().V1().Leases(), factory.Core().V1().Pods(), factory.Core().V1().Nodes(), DefaultOptions(), clk)
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(100)
	return &world{t: t, client: client, factory: factory, c: c, clock: clk, start: start}
}

// node creates (or updates) a node in the API and the informer.
func (w *world) node(name, zone string, ready corev1.ConditionStatus, heartbeat time.Time) {
	w.t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(w.start.Add(-time.Hour)),
			Labels: map[string]string{corev1.LabelTopologyZone: zone, corev1.LabelOSStable: "linux"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready,
			LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(w.start.Add(-time.Hour))}}},
	}
	if cur, err := w.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); err == nil {
		n.Spec = cur.Spec
		if _, err := w.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
			w.t.Fatal(err)
		}
	} else if _, err := w.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	w.refresh()
}

// refresh copies the API's nodes into the informer, as a watch would.
func (w *world) refresh() {
	w.t.Helper()
	list, err := w.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	idx := w.factory.Core().V1().Nodes().Informer().GetIndexer()
	for i := range list.Items {
		if err := idx.Update(&list.Items[i]); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) lease(name string, renew time.Time) {
	w.t.Helper()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{RenewTime: ptr.To(metav1.NewMicroTime(renew))}}
	if err := w.factory.Coordination().V1().Leases().Informer().GetIndexer().Update(l); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) monitor() {
	w.t.Helper()
	if err := w.c.monitorNodeHealth(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.c.noExecuteTaintingPass(context.Background())
	w.refresh()
}

func (w *world) get(name string) *corev1.Node {
	w.t.Helper()
	n, err := w.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func taintKeys(n *corev1.Node) string {
	var keys []string
	for _, t := range n.Spec.Taints {
		keys = append(keys, t.Key+":"+string(t.Effect))
	}
	sort.Strings(keys)
	return fmt.Sprint(keys)
}

func readyOf(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func TestUnreachableNode(t *testing.T) {
	w := newWorld(t)
	w.node("a", "z", corev1.ConditionTrue, w.start)
	w.node("b", "z", corev1.ConditionTrue, w.start)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "a"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if _, err := w.client.CoreV1().Pods("ns").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.factory.Core().V1().Pods().Informer().GetIndexer().Add(pod); err != nil {
		t.Fatal(err)
	}
	w.monitor()

	// b keeps renewing its lease; a goes silent.
	for _, d := range []time.Duration{20, 40, 51, 56, 62} {
		w.clock.SetTime(w.start.Add(d * time.Second))
		w.lease("b", w.clock.Now())
		w.monitor()
	}
	a, b := w.get("a"), w.get("b")
	if r := readyOf(a); r.Status != corev1.ConditionUnknown || r.Reason != "NodeStatusUnknown" || r.Message != "Kubelet stopped posting node status." {
		t.Errorf("a Ready = %+v", r)
	}
	if r := readyOf(b); r.Status != corev1.ConditionTrue {
		t.Errorf("b (lease renewed) Ready = %+v", r)
	}
	if got := taintKeys(a); got != "[node.kubernetes.io/unreachable:NoExecute]" {
		t.Errorf("a taints = %s", got)
	}
	for _, tt := range a.Spec.Taints {
		if tt.TimeAdded == nil {
			t.Errorf("taint %s without timeAdded", tt.Key)
		}
	}
	p, _ := w.client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if p.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Errorf("pod on the unreachable node still Ready")
	}
	// The NoSchedule counterpart comes from the condition.
	if err := w.c.noScheduleTaintingPass(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := taintKeys(w.get("a")); got != "[node.kubernetes.io/unreachable:NoExecute node.kubernetes.io/unreachable:NoSchedule]" {
		t.Errorf("a taints = %s", got)
	}

	// a comes back: the NoExecute taint goes.
	w.node("a", "z", corev1.ConditionTrue, w.clock.Now())
	w.clock.Step(time.Second)
	w.monitor()
	if got := taintKeys(w.get("a")); got != "[node.kubernetes.io/unreachable:NoSchedule]" {
		t.Errorf("after recovery a taints = %s", got)
	}
	w.refresh()
	if err := w.c.noScheduleTaintingPass(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := taintKeys(w.get("a")); got != "[]" {
		t.Errorf("after recovery a taints = %s", got)
	}
}

func TestAllNodesDownStopsTainting(t *testing.T) {
	w := newWorld(t)
	w.node("a", "z", corev1.ConditionTrue, w.start)
	w.monitor()
	w.clock.SetTime(w.start.Add(time.Minute))
	w.monitor()
	w.clock.Step(time.Minute)
	w.monitor()
	a := w.get("a")
	if r := readyOf(a); r.Status != corev1.ConditionUnknown {
		t.Fatalf("Ready = %+v", r)
	}
	if got := taintKeys(a); got != "[]" {
		t.Errorf("the only node was tainted NoExecute in full disruption: %s", got)
	}
}

func TestNoScheduleTaints(t *testing.T) {
	w := newWorld(t)
	w.node("a", "z", corev1.ConditionFalse, w.start)
	n := w.get("a")
	n.Spec.Unschedulable = true
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue})
	n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeDiskPressure, Effect: corev1.TaintEffectNoSchedule}, {Key: "user", Effect: corev1.TaintEffectNoSchedule}}
	if _, err := w.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.refresh()
	if err := w.c.noScheduleTaintingPass(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	want := "[node.kubernetes.io/memory-pressure:NoSchedule node.kubernetes.io/not-ready:NoSchedule node.kubernetes.io/unschedulable:NoSchedule user:NoSchedule]"
	if got := taintKeys(w.get("a")); got != want {
		t.Errorf("taints = %s\nwant     %s", got, want)
	}
}

func TestBetaLabels(t *testing.T) {
	w := newWorld(t)
	w.node("a", "z", corev1.ConditionTrue, w.start)
	if err := w.c.reconcileNodeLabels(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := w.get("a").Labels["beta.kubernetes.io/os"]; got != "linux" {
		t.Errorf("beta os label = %q", got)
	}
}

func TestZoneState(t *testing.T) {
	c := &Controller{opts: DefaultOptions()}
	cond := func(s corev1.ConditionStatus) *corev1.NodeCondition { return &corev1.NodeCondition{Status: s} }
	T, F := corev1.ConditionTrue, corev1.ConditionUnknown
	for _, tc := range []struct {
		conds []*corev1.NodeCondition
		want  zoneState
	}{
		{[]*corev1.NodeCondition{cond(F), nil}, stateFullDisruption},
		{[]*corev1.NodeCondition{cond(T), cond(F), cond(F)}, stateNormal},
		{[]*corev1.NodeCondition{cond(T), cond(F), cond(F), cond(F)}, statePartialDisruption},
	} {
		if _, got := c.computeZoneState(tc.conds); got != tc.want {
			t.Errorf("%d conditions: %s, want %s", len(tc.conds), got, tc.want)
		}
	}
}
