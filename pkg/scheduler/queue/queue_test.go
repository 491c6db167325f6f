package queue

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := int32(0), int32(0)
	if a.Pod.Spec.Priority != nil {
		pa = *a.Pod.Spec.Priority
	}
	if b.Pod.Spec.Priority != nil {
		pb = *b.Pod.Spec.Priority
	}
	return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
}

type gate struct{}

func (gate) Name() string { return "Gate" }
func (gate) PreEnqueue(_ context.Context, p *v1.Pod) *framework.Status {
	if p.Labels["gated"] == "true" {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "gated")
	}
	return nil
}

// nodeLabelHint requeues pods rejected by "Affinity" only when the added
// node has label fit=true.
func nodeLabelHint(_ klog.Logger, _ *v1.Pod, _, newObj any) (framework.QueueingHint, error) {
	if n, ok := newObj.(*v1.Node); ok && n.Labels["fit"] == "true" {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

func newQueue(clock *testingclock.FakeClock) *PriorityQueue {
	hints := QueueingHintMap{
		{Resource: framework.Node, ActionType: framework.Add}:                 {{PluginName: "Affinity", Fn: nodeLabelHint}},
		{Resource: framework.TargetPod, ActionType: framework.UpdatePodLabel}: {{PluginName: "Gate"}},
	}
	return New(less, map[string]Profile{v1.DefaultSchedulerName: {Hints: hints, PreEnqueue: []framework.PreEnqueuePlugin{gate{}}}},
		Options{Clock: clock})
}

func rejected(pi *framework.QueuedPodInfo, plugins ...string) *framework.QueuedPodInfo {
	pi.UnschedulablePlugins = sets.New(plugins...)
	return pi
}

func TestPopOrder(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Now()))
	logger := klog.Background()
	q.Add(logger, st.MakePod("ns", "low").Priority(1).Obj())
	q.Add(logger, st.MakePod("ns", "high").Priority(10).Obj())
	q.Add(logger, st.MakePod("ns", "mid").Priority(5).Obj())
	for _, want := range []string{"high", "mid", "low"} {
		if got := q.Pop(logger).Pod.Name; got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestUnschedulablePodsMoveOnTheirEvents(t *testing.T) {
	clock := testingclock.NewFakeClock(time.Now())
	q := newQueue(clock)
	logger := klog.Background()
	q.Add(logger, st.MakePod("ns", "p").Obj())
	pi := q.Pop(logger)
	if err := q.AddUnschedulableIfNotPresent(logger, rejected(pi, "Affinity")); err != nil {
		t.Fatal(err)
	}
	if a, b, u := q.Lens(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("queues = %d/%d/%d, want the pod unschedulable", a, b, u)
	}
	nodeAdd := framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}
	q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, st.MakeNode("n").Obj(), nil)
	if _, _, u := q.Lens(); u != 1 {
		t.Fatal("a node the hint rejects moved the pod")
	}
	q.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint}, nil, st.MakeNode("n").Label("fit", "true").Obj(), nil)
	if _, _, u := q.Lens(); u != 1 {
		t.Fatal("an event no plugin registered moved the pod")
	}
	q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, st.MakeNode("n").Label("fit", "true").Obj(), nil)
	a, b, u := q.Lens()
	if u != 0 || b != 1 || a != 0 {
		t.Fatalf("queues = %d/%d/%d, want the pod backing off", a, b, u)
	}
	// After its backoff (1s for the first failure) it is active again.
	clock.Step(2 * time.Second)
	q.flushBackoffQCompleted(logger)
	if a, _, _ := q.Lens(); a != 1 {
		t.Fatal("backoff did not end")
	}
}

func TestEventsDuringTheAttemptRequeue(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Now()))
	logger := klog.Background()
	q.Add(logger, st.MakePod("ns", "p").Obj())
	pi := q.Pop(logger)
	// The helpful node arrives while the pod is being scheduled.
	q.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, nil, st.MakeNode("n").Label("fit", "true").Obj(), nil)
	if err := q.AddUnschedulableIfNotPresent(logger, rejected(pi, "Affinity")); err != nil {
		t.Fatal(err)
	}
	if _, b, u := q.Lens(); u != 0 || b != 1 {
		t.Fatalf("pod went to unschedulable (%d) instead of backoff (%d)", u, b)
	}
}

func TestErrorsBackOff(t *testing.T) {
	clock := testingclock.NewFakeClock(time.Now())
	q := newQueue(clock)
	logger := klog.Background()
	q.Add(logger, st.MakePod("ns", "p").Obj())
	pi := q.Pop(logger)
	if err := q.AddUnschedulableIfNotPresent(logger, pi); err != nil {
		t.Fatal(err)
	}
	if _, b, _ := q.Lens(); b != 1 {
		t.Fatal("an errored pod should back off")
	}
	// Backoff doubles per failure up to the maximum.
	pi.ConsecutiveErrorsCount, pi.BackoffExpiration = 3, time.Time{}
	if d := q.backoffTime(pi).Sub(pi.Timestamp.Truncate(time.Second)); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("third backoff %v, want about 4s", d)
	}
	pi.ConsecutiveErrorsCount, pi.BackoffExpiration = 10, time.Time{}
	if d := q.backoffTime(pi).Sub(pi.Timestamp); d > 10*time.Second {
		t.Errorf("backoff %v exceeds the 10s maximum", d)
	}
}

func TestGatedPods(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Now()))
	logger := klog.Background()
	gated := st.MakePod("ns", "p").Label("gated", "true").Obj()
	gated.ResourceVersion = "1"
	q.Add(logger, gated)
	if a, _, u := q.Lens(); a != 0 || u != 1 {
		t.Fatal("gated pod entered the active queue")
	}
	// Other events do not wake a gated pod.
	q.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, nil, st.MakeNode("n").Label("fit", "true").Obj(), nil)
	if _, _, u := q.Lens(); u != 1 {
		t.Fatal("node event released a gated pod")
	}
	ungated := gated.DeepCopy()
	ungated.Labels = map[string]string{}
	ungated.ResourceVersion = "2"
	q.Update(logger, gated, ungated)
	if a, _, u := q.Lens(); a != 1 || u != 0 {
		t.Fatalf("ungated pod not active: active %d unschedulable %d", a, u)
	}
}

func TestNominator(t *testing.T) {
	q := newQueue(testingclock.NewFakeClock(time.Now()))
	logger := klog.Background()
	p := st.MakePod("ns", "p").Obj()
	pi, _ := framework.NewPodInfo(p)
	q.AddNominatedPod(logger, pi, &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: "n1"})
	if got := q.NominatedPodsForNode("n1"); len(got) != 1 {
		t.Fatalf("nominated on n1: %d", len(got))
	}
	q.AddNominatedPod(logger, pi, &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: "n2"})
	if len(q.NominatedPodsForNode("n1")) != 0 || len(q.NominatedPodsForNode("n2")) != 1 {
		t.Fatal("renomination did not move the pod")
	}
	q.Delete(p)
	if len(q.NominatedPodsForNode("n2")) != 0 {
		t.Fatal("deleted pod still nominated")
	}
}
