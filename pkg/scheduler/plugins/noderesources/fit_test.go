package noderesources

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

type res = map[v1.ResourceName]string

func list(r res) v1.ResourceList {
	out := v1.ResourceList{}
	for k, v := range r {
		out[k] = resource.MustParse(v)
	}
	return out
}

func TestFitFilter(t *testing.T) {
	node := st.MakeNode("n").Capacity(res{"cpu": "4", "memory": "8Gi", "example.com/gpu": "1"}).Obj()
	used := st.MakePod("ns", "used").Req(res{"cpu": "2", "memory": "2Gi"}).Node("n").Obj()
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		args     *configv1.NodeResourcesFitArgs
		wantCode framework.Code
		wantMsg  string
	}{
		{name: "no requests", pod: st.MakePod("ns", "p").Obj()},
		{name: "fits", pod: st.MakePod("ns", "p").Req(res{"cpu": "2", "memory": "6Gi"}).Obj()},
		{name: "too much cpu", pod: st.MakePod("ns", "p").Req(res{"cpu": "3"}).Obj(), wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu"},
		{
			name: "every missing resource is reported", pod: st.MakePod("ns", "p").Req(res{"cpu": "3", "memory": "7Gi"}).Obj(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu, Insufficient memory",
		},
		{
			// More than the node has at all: preemption cannot help.
			name: "more than allocatable", pod: st.MakePod("ns", "p").Req(res{"cpu": "5"}).Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantMsg: "Insufficient cpu",
		},
		{
			name: "init containers count by their max",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Req(res{"cpu": "1"}).Obj()
				p.Spec.InitContainers = []v1.Container{{Name: "init", Resources: v1.ResourceRequirements{Requests: list(res{"cpu": "3"})}}}
				return p
			}(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu",
		},
		{
			name: "sidecars add to the containers",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Req(res{"cpu": "1500m"}).Obj()
				p.Spec.InitContainers = []v1.Container{{Name: "side", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways), Resources: v1.ResourceRequirements{Requests: list(res{"cpu": "1"})}}}
				return p
			}(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu",
		},
		{
			name: "overhead counts",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Req(res{"cpu": "1500m"}).Obj()
				p.Spec.Overhead = list(res{"cpu": "1"})
				return p
			}(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu",
		},
		{
			name: "pod-level requests win over containers",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Req(res{"cpu": "1"}).Obj()
				p.Spec.Resources = &v1.ResourceRequirements{Requests: list(res{"cpu": "3"})}
				return p
			}(),
			wantCode: framework.Unschedulable, wantMsg: "Insufficient cpu",
		},
		{
			name: "extended resources", pod: st.MakePod("ns", "p").Req(res{"example.com/gpu": "2"}).Obj(),
			wantCode: framework.UnschedulableAndUnresolvable, wantMsg: "Insufficient example.com/gpu",
		},
		{
			name: "ignored extended resources", pod: st.MakePod("ns", "p").Req(res{"example.com/gpu": "2"}).Obj(),
			args: &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"example.com/gpu"}},
		},
		{
			name: "ignored resource groups", pod: st.MakePod("ns", "p").Req(res{"example.com/gpu": "2"}).Obj(),
			args: &configv1.NodeResourcesFitArgs{IgnoredResourceGroups: []string{"example.com"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args map[string]runtime.Object
			if tc.args != nil {
				tc.args.ScoringStrategy = &configv1.ScoringStrategy{Type: configv1.LeastAllocated, Resources: []configv1.ResourceSpec{{Name: "cpu", Weight: 1}}}
				args = map[string]runtime.Object{Name: tc.args}
			}
			f := st.NewFramework(t, framework.Registry{Name: NewFit}, []string{Name}, args, []*v1.Node{node}, []*v1.Pod{used})
			s := f.Filter(t, tc.pod, "n")
			if s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
				t.Errorf("Filter = %v %q, want %v %q", s.Code(), s.Message(), tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func TestTooManyPods(t *testing.T) {
	node := st.MakeNode("n").Capacity(res{"cpu": "4", "pods": "1"}).Obj()
	f := st.NewFramework(t, framework.Registry{Name: NewFit}, []string{Name}, nil, []*v1.Node{node}, []*v1.Pod{st.MakePod("ns", "e").Node("n").Obj()})
	if s := f.Filter(t, st.MakePod("ns", "p").Obj(), "n"); s.Message() != "Too many pods" || s.Code() != framework.Unschedulable {
		t.Errorf("Filter = %v %q", s.Code(), s.Message())
	}
}

func TestScores(t *testing.T) {
	capacity := res{"cpu": "4", "memory": "8Gi"}
	nodes := []*v1.Node{
		st.MakeNode("n1").Capacity(capacity).Obj(),
		st.MakeNode("n2").Capacity(capacity).Obj(),
		st.MakeNode("n3").Capacity(capacity).Obj(),
	}
	pods := []*v1.Pod{
		st.MakePod("ns", "a").Req(res{"cpu": "2", "memory": "1Gi"}).Node("n2").Obj(),
		// No cpu request: LeastAllocated counts the default 100m.
		st.MakePod("ns", "b").Req(res{"memory": "6Gi"}).Node("n3").Obj(),
	}
	pod := st.MakePod("ns", "p").Req(res{"cpu": "2", "memory": "1Gi"}).Obj()
	reg := framework.Registry{Name: NewFit, BalancedAllocationName: NewBalancedAllocation}

	least := st.NewFramework(t, reg, []string{Name}, nil, nodes, pods)
	// n1: cpu 50, memory 87 -> 68; n2: cpu 0, memory 75 -> 37;
	// n3: cpu (4000-2100)/40 = 47, memory 12 -> 29.
	if got, want := least.Scores(t, pod), map[string]int64{"n1": 68, "n2": 37, "n3": 29}; !reflect.DeepEqual(got, want) {
		t.Errorf("LeastAllocated scores = %v, want %v", got, want)
	}

	most := st.NewFramework(t, reg, []string{Name}, map[string]runtime.Object{Name: &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
		Type: configv1.MostAllocated, Resources: []configv1.ResourceSpec{{Name: "cpu", Weight: 1}, {Name: "memory", Weight: 1}}}}}, nodes, pods)
	// n1: cpu 50, memory 12 -> 31; n2: cpu 100, memory 25 -> 62;
	// n3: cpu 52, memory 87 -> 69.
	if got, want := most.Scores(t, pod), map[string]int64{"n1": 31, "n2": 62, "n3": 69}; !reflect.DeepEqual(got, want) {
		t.Errorf("MostAllocated scores = %v, want %v", got, want)
	}

	balanced := st.NewFramework(t, reg, []string{names.NodeResourcesBalancedAllocation}, nil, nodes, pods)
	// 50 + (50 + score with the pod - score without it) / 2, where a score
	// is 100 * (1 - std of the cpu and memory fractions):
	// n1: 81 vs 100 -> 65; n2: 62 vs 81 -> 65; n3: 81 vs 62 -> 84.
	if got, want := balanced.Scores(t, pod), map[string]int64{"n1": 65, "n2": 65, "n3": 84}; !reflect.DeepEqual(got, want) {
		t.Errorf("BalancedAllocation scores = %v, want %v", got, want)
	}
	// Best-effort pods are not scored for balance.
	if got := balanced.Scores(t, st.MakePod("ns", "be").Obj()); got["n1"] != 0 || got["n3"] != 0 {
		t.Errorf("best-effort pod scores = %v, want 0", got)
	}
}

func TestRequestedToCapacityRatio(t *testing.T) {
	shape := []configv1.UtilizationShapePoint{{Utilization: 0, Score: 0}, {Utilization: 100, Score: 10}}
	scorer := requestedToCapacityRatioScorer([]configv1.ResourceSpec{{Name: "cpu", Weight: 1}}, shape)
	for _, tc := range []struct{ requested, capacity, want int64 }{
		{0, 100, 0}, {50, 100, 50}, {100, 100, 100}, {150, 100, 100},
	} {
		if got := scorer([]int64{tc.requested}, nil, []int64{tc.capacity}); got != tc.want {
			t.Errorf("requested %d of %d: %d, want %d", tc.requested, tc.capacity, got, tc.want)
		}
	}
}
