package scheduler

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/config"
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	s := &Scheduler{}
	for _, tc := range []struct {
		percentage, profile *int32
		nodes, want         int32
	}{
		{nodes: 10, want: 10},
		{nodes: 100, want: 100},
		// Adaptive: 50% - 1000/125 = 42%.
		{nodes: 1000, want: 420},
		// Never below 5%, never below 100 nodes.
		{nodes: 6000, want: 300},
		{nodes: 150, percentage: ptr.To[int32](10), want: 100},
		{nodes: 1000, percentage: ptr.To[int32](40), want: 400},
		{nodes: 1000, percentage: ptr.To[int32](40), profile: ptr.To[int32](70), want: 700},
	} {
		s.percentageOfNodesToScore = ptr.Deref(tc.percentage, 0)
		if got := s.numFeasibleNodesToFind(tc.profile, tc.nodes); got != tc.want {
			t.Errorf("%d nodes, percentage %v/%v: %d, want %d", tc.nodes, tc.percentage, tc.profile, got, tc.want)
		}
	}
}

func TestSelectHostBreaksTiesAtRandom(t *testing.T) {
	scores := []framework.NodePluginScores{{Name: "a", TotalScore: 10}, {Name: "b", TotalScore: 30}, {Name: "c", TotalScore: 30}}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[selectHost(scores)] = true
	}
	if seen["a"] || !seen["b"] || !seen["c"] {
		t.Errorf("picked %v; want b and c only", seen)
	}
}

// benchScheduler is a scheduler over nodes simulated in its cache only:
// the benchmark measures the scheduling cycle (filter, score, assume), not
// the API.
func benchScheduler(b *testing.B, nodes int) *Scheduler {
	b.Helper()
	cs := fake.NewClientset()
	f := NewInformerFactory(cs, 0)
	s, err := New(context.Background(), Config{Client: cs, InformerFactory: f, ComponentConfig: config.Default()})
	if err != nil {
		b.Fatal(err)
	}
	logger := klog.Background()
	for i := 0; i < nodes; i++ {
		s.Cache.AddNode(logger, st.MakeNode(fmt.Sprintf("node-%d", i)).Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%10)).
			Capacity(map[v1.ResourceName]string{"cpu": "64", "memory": "256Gi", "pods": "1000"}).Obj())
	}
	return s
}

func benchmarkCycle(b *testing.B, mutate func(*v1.Pod)) {
	s := benchScheduler(b, 1000)
	fw := s.Profiles[v1.DefaultSchedulerName]
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := st.MakePod("ns", fmt.Sprintf("p-%d", i)).Req(map[v1.ResourceName]string{"cpu": "10m", "memory": "10Mi"}).Obj()
		p.UID = types.UID(p.Name)
		mutate(p)
		pi, _ := framework.NewPodInfo(p)
		qpi := &framework.QueuedPodInfo{PodInfo: pi}
		state := framework.NewCycleState()
		result, _, status := s.schedulingCycle(ctx, state, fw, qpi)
		if !status.IsSuccess() {
			b.Fatalf("pod %d: %v", i, status)
		}
		// Confirm the assumed pod as the informer would.
		bound := p.DeepCopy()
		bound.Spec.NodeName = result.suggestedHost
		_ = s.Cache.AddPod(klog.Background(), bound)
	}
}

// BenchmarkSchedulingCycle1000Nodes measures one pod's scheduling cycle on
// 1,000 nodes (run with -benchtime=10000x to fill the nodes as the
// hack/bench/scheduler run does).
func BenchmarkSchedulingCycle1000Nodes(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchmarkCycle(b, func(*v1.Pod) {}) })
	b.Run("topology spread", func(b *testing.B) {
		benchmarkCycle(b, func(p *v1.Pod) {
			p.Labels["app"] = "spread"
			st.AddSpreadConstraint(p, 1, v1.LabelTopologyZone, v1.DoNotSchedule, map[string]string{"app": "spread"})
		})
	})
}
