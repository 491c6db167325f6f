package tainttoleration

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestFilter(t *testing.T) {
	dedicated := v1.Taint{Key: "dedicated", Value: "user1", Effect: v1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		fits bool
	}{
		{name: "no taints", pod: st.MakePod("ns", "p").Obj(), node: st.MakeNode("n").Obj(), fits: true},
		{name: "untolerated NoSchedule taint", pod: st.MakePod("ns", "p").Obj(), node: st.MakeNode("n").Taints(dedicated).Obj()},
		{
			name: "tolerated with Equal", node: st.MakeNode("n").Taints(dedicated).Obj(), fits: true,
			pod: st.MakePod("ns", "p").Toleration(v1.Toleration{Key: "dedicated", Value: "user1", Operator: v1.TolerationOpEqual, Effect: v1.TaintEffectNoSchedule}).Obj(),
		},
		{
			name: "toleration value differs", node: st.MakeNode("n").Taints(dedicated).Obj(),
			pod: st.MakePod("ns", "p").Toleration(v1.Toleration{Key: "dedicated", Value: "user2", Operator: v1.TolerationOpEqual, Effect: v1.TaintEffectNoSchedule}).Obj(),
		},
		{
			name: "tolerated with Exists and no effect", node: st.MakeNode("n").Taints(dedicated).Obj(), fits: true,
			pod: st.MakePod("ns", "p").Toleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists}).Obj(),
		},
		{
			name: "empty key with Exists tolerates everything", node: st.MakeNode("n").Taints(dedicated, v1.Taint{Key: "x", Effect: v1.TaintEffectNoExecute}).Obj(), fits: true,
			pod: st.MakePod("ns", "p").Toleration(v1.Toleration{Operator: v1.TolerationOpExists}).Obj(),
		},
		{
			name: "PreferNoSchedule does not filter", pod: st.MakePod("ns", "p").Obj(), fits: true,
			node: st.MakeNode("n").Taints(v1.Taint{Key: "k", Effect: v1.TaintEffectPreferNoSchedule}).Obj(),
		},
		{
			name: "NoExecute filters", pod: st.MakePod("ns", "p").Obj(),
			node: st.MakeNode("n").Taints(v1.Taint{Key: "k", Effect: v1.TaintEffectNoExecute}).Obj(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&TaintToleration{}).Filter(t.Context(), framework.NewCycleState(), tc.pod, st.NodeInfo(tc.node))
			if s.IsSuccess() != tc.fits {
				t.Fatalf("Filter = %v, want fits=%v", s, tc.fits)
			}
			if !tc.fits && (s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != "node(s) had untolerated taint(s)") {
				t.Errorf("Filter = %v %q", s.Code(), s.Message())
			}
		})
	}
}

func TestScore(t *testing.T) {
	prefer := func(k, v string) v1.Taint { return v1.Taint{Key: k, Value: v, Effect: v1.TaintEffectPreferNoSchedule} }
	nodes := []*v1.Node{
		st.MakeNode("none").Obj(),
		st.MakeNode("one").Taints(prefer("cpu-type", "arm64")).Obj(),
		st.MakeNode("two").Taints(prefer("cpu-type", "arm64"), prefer("disk-type", "ssd")).Obj(),
		st.MakeNode("tolerated").Taints(prefer("foo", "bar")).Obj(),
	}
	pod := st.MakePod("ns", "p").Toleration(v1.Toleration{Key: "foo", Operator: v1.TolerationOpEqual, Value: "bar", Effect: v1.TaintEffectPreferNoSchedule}).Obj()
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil)
	got := f.Scores(t, pod)
	// Reversed normalisation: max count 2 -> 0, 1 -> 50, 0 -> 100.
	want := map[string]int64{"none": 100, "one": 50, "two": 0, "tolerated": 100}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
}
