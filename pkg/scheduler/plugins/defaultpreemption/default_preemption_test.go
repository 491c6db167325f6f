package defaultpreemption

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/noderesources"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

type res = map[v1.ResourceName]string

func setup(t *testing.T, objs ...runtime.Object) (*st.Framework, *DefaultPreemption) {
	t.Helper()
	nodes := []*v1.Node{
		st.MakeNode("n1").Capacity(res{"cpu": "2"}).Obj(),
		st.MakeNode("n2").Capacity(res{"cpu": "2"}).Obj(),
	}
	pods := []*v1.Pod{
		st.MakePod("ns", "low").Label("app", "low").Priority(1).Req(res{"cpu": "1"}).Node("n1").Obj(),
		st.MakePod("ns", "mid").Label("app", "mid").Priority(5).Req(res{"cpu": "1"}).Node("n1").Obj(),
		st.MakePod("ns", "high").Priority(7).Req(res{"cpu": "2"}).Node("n2").Obj(),
	}
	reg := framework.Registry{names.NodeResourcesFit: noderesources.NewFit, Name: New}
	f := st.NewFramework(t, reg, []string{names.NodeResourcesFit, Name}, nil, nodes, pods, objs...)
	pl := f.Plugin(Name).(*DefaultPreemption)
	pl.offset = func(int32) int32 { return 0 }
	return f, pl
}

func postFilter(t *testing.T, f *st.Framework, pod *v1.Pod) (*framework.PostFilterResult, *framework.Status) {
	t.Helper()
	if _, err := f.Client.CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "preemptor in the informer", func() bool {
		_, err := f.Informer.Core().V1().Pods().Lister().Pods(pod.Namespace).Get(pod.Name)
		return err == nil
	})
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, s, _ := f.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	m := framework.NewDefaultNodeToStatus()
	nodes, _ := f.Snapshot.List()
	for _, ni := range nodes {
		if s := f.RunFilterPlugins(ctx, state, pod, ni); !s.IsSuccess() {
			m.Set(ni.Node().Name, s)
		}
	}
	return f.RunPostFilterPlugins(ctx, state, pod, m)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPreemptsTheLowestPriorityVictim(t *testing.T) {
	f, _ := setup(t)
	preemptor := st.MakePod("ns", "p").Priority(10).Req(res{"cpu": "1"}).Obj()
	result, s := postFilter(t, f, preemptor)
	if !s.IsSuccess() || result == nil || result.NominatedNodeName != "n1" {
		t.Fatalf("PostFilter = %+v, %v", result, s)
	}
	if want := "preemption: found a potential placement for pod on node n1, preempting 1 victims"; s.Message() != want {
		t.Errorf("message %q, want %q", s.Message(), want)
	}
	waitFor(t, "the victim deleted", func() bool {
		_, err := f.Client.CoreV1().Pods("ns").Get(t.Context(), "low", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := f.Client.CoreV1().Pods("ns").Get(t.Context(), "mid", metav1.GetOptions{}); err != nil {
		t.Errorf("mid was preempted too: %v", err)
	}
}

func TestRespectsPDBWhenItCan(t *testing.T) {
	pdb := &policy.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "low"},
		Spec:       policy.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "low"}}},
		Status:     policy.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}
	f, pl := setup(t, pdb)
	preemptor := st.MakePod("ns", "p").Priority(10).Req(res{"cpu": "1"}).Obj()
	ctx := context.Background()
	state := framework.NewCycleState()
	f.RunPreFilterPlugins(ctx, state, preemptor)
	ni, _ := f.Snapshot.Get("n1")
	victims, violations, s := pl.selectVictimsOnNode(ctx, state, preemptor, ni.Snapshot(), []*policy.PodDisruptionBudget{pdb})
	if !s.IsSuccess() || len(victims) != 1 || victims[0].Name != "mid" || violations != 0 {
		t.Errorf("victims = %v, violations %d, %v; want mid without violation", podNames(victims), violations, s)
	}
	// With no way around the budget, the violating pod is chosen and counted.
	big := st.MakePod("ns", "big").Priority(10).Req(res{"cpu": "2"}).Obj()
	state = framework.NewCycleState()
	f.RunPreFilterPlugins(ctx, state, big)
	victims, violations, _ = pl.selectVictimsOnNode(ctx, state, big, ni.Snapshot(), []*policy.PodDisruptionBudget{pdb})
	if len(victims) != 2 || violations != 1 {
		t.Errorf("victims = %v, violations %d; want both, 1 violation", podNames(victims), violations)
	}
}

func TestNotEligible(t *testing.T) {
	f, _ := setup(t)
	pod := st.MakePod("ns", "p").Priority(10).Req(res{"cpu": "1"}).Obj()
	pod.Spec.PreemptionPolicy = ptr.To(v1.PreemptNever)
	result, s := postFilter(t, f, pod)
	if result != nil || s.Code() != framework.Unschedulable || s.Message() != "preemption: not eligible due to preemptionPolicy=Never." {
		t.Errorf("PostFilter = %+v, %v %q", result, s.Code(), s.Message())
	}
}

func TestNoVictims(t *testing.T) {
	f, _ := setup(t)
	// Priority 0 finds nothing lower.
	result, s := postFilter(t, f, st.MakePod("ns", "p").Req(res{"cpu": "1"}).Obj())
	want := "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	if s.Code() != framework.Unschedulable || s.Message() != want {
		t.Errorf("PostFilter = %v %q, want %q", s.Code(), s.Message(), want)
	}
	if result == nil || result.NominatingMode != framework.ModeOverride || result.NominatedNodeName != "" {
		t.Errorf("result %+v should clear the nomination", result)
	}
}

func TestSelectCandidate(t *testing.T) {
	pod := func(prio int32, start time.Time) *v1.Pod {
		p := st.MakePod("ns", "v").Priority(prio).Obj()
		p.Status.StartTime = &metav1.Time{Time: start}
		return p
	}
	now := time.Now()
	pl := &DefaultPreemption{}
	for _, tc := range []struct {
		name       string
		candidates []*candidate
		want       string
	}{
		{"fewest PDB violations", []*candidate{
			{name: "a", victims: []*v1.Pod{pod(1, now)}, numPDBViolations: 1},
			{name: "b", victims: []*v1.Pod{pod(5, now)}},
		}, "b"},
		{"lowest highest priority", []*candidate{
			{name: "a", victims: []*v1.Pod{pod(5, now), pod(1, now)}},
			{name: "b", victims: []*v1.Pod{pod(3, now), pod(3, now)}},
		}, "b"},
		{"lowest priority sum", []*candidate{
			{name: "a", victims: []*v1.Pod{pod(3, now), pod(3, now)}},
			{name: "b", victims: []*v1.Pod{pod(3, now), pod(1, now)}},
		}, "b"},
		{"more victims weigh more", []*candidate{
			{name: "a", victims: []*v1.Pod{pod(3, now), pod(-5, now)}},
			{name: "b", victims: []*v1.Pod{pod(3, now)}},
		}, "b"},
		{"latest start", []*candidate{
			{name: "a", victims: []*v1.Pod{pod(3, now.Add(-time.Hour))}},
			{name: "b", victims: []*v1.Pod{pod(3, now)}},
		}, "b"},
	} {
		if got := pl.selectCandidate(tc.candidates); got.name != tc.want {
			t.Errorf("%s: picked %s, want %s", tc.name, got.name, tc.want)
		}
	}
}

func podNames(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
