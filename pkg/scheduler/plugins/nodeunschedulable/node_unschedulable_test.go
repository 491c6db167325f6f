package nodeunschedulable

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestFilter(t *testing.T) {
	tolerateUnschedulable := v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		node     *v1.Node
		wantCode framework.Code
	}{
		{name: "schedulable node", pod: st.MakePod("ns", "p").Obj(), node: st.MakeNode("n").Obj()},
		{name: "unschedulable node", pod: st.MakePod("ns", "p").Obj(), node: st.MakeNode("n").Unschedulable().Obj(), wantCode: framework.UnschedulableAndUnresolvable},
		{name: "pod tolerates the unschedulable taint", pod: st.MakePod("ns", "p").Toleration(tolerateUnschedulable).Obj(), node: st.MakeNode("n").Unschedulable().Obj()},
		{
			name:     "toleration of another effect does not count",
			pod:      st.MakePod("ns", "p").Toleration(v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}).Obj(),
			node:     st.MakeNode("n").Unschedulable().Obj(),
			wantCode: framework.UnschedulableAndUnresolvable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := (&NodeUnschedulable{}).Filter(t.Context(), framework.NewCycleState(), tc.pod, st.NodeInfo(tc.node))
			if s.Code() != tc.wantCode {
				t.Fatalf("Filter = %v", s)
			}
			if tc.wantCode != framework.Success && s.Message() != ErrReasonUnschedulable {
				t.Errorf("message %q", s.Message())
			}
		})
	}
}

func TestQueueingHint(t *testing.T) {
	pod := st.MakePod("ns", "p").Obj()
	cordoned := st.MakeNode("n").Unschedulable().Obj()
	open := st.MakeNode("n").Obj()
	for _, tc := range []struct {
		name     string
		old, new *v1.Node
		want     framework.QueueingHint
	}{
		{"node uncordoned", cordoned, open, framework.Queue},
		{"schedulable node added", nil, open, framework.Queue},
		{"cordoned node added", nil, cordoned, framework.QueueSkip},
		{"node cordoned", open, cordoned, framework.QueueSkip},
	} {
		var oldObj any
		if tc.old != nil {
			oldObj = tc.old
		}
		got, err := isSchedulableAfterNodeChange(klog.Background(), pod, oldObj, tc.new)
		if err != nil || got != tc.want {
			t.Errorf("%s: hint = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
