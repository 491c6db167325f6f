package nodename

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestNodeName(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode("foo").Obj(), st.MakeNode("bar").Obj()}
	reg := framework.Registry{Name: New}
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		node     string
		wantCode framework.Code
		wantMsg  string
	}{
		{name: "no host specified", pod: st.MakePod("ns", "p").Obj(), node: "foo"},
		{name: "host matches", pod: st.MakePod("ns", "p").Node("foo").Obj(), node: "foo"},
		{
			// PreFilter narrows the candidates to the named node, so the
			// other node is rejected there already.
			name: "host doesn't match", pod: st.MakePod("ns", "p").Node("foo").Obj(), node: "bar",
			wantCode: framework.UnschedulableAndUnresolvable, wantMsg: ErrReason,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := st.NewFramework(t, reg, []string{Name}, nil, nodes, nil)
			ni, _ := f.Snapshot.Get(tc.node)
			s := (&NodeName{}).Filter(t.Context(), framework.NewCycleState(), tc.pod, ni)
			if s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
				t.Errorf("Filter = %v %q, want %v %q", s.Code(), s.Message(), tc.wantCode, tc.wantMsg)
			}
			res, ps := (&NodeName{}).PreFilter(t.Context(), framework.NewCycleState(), tc.pod, nil)
			if tc.pod.Spec.NodeName == "" {
				if !ps.IsSkip() {
					t.Errorf("PreFilter without nodeName = %v, want Skip", ps)
				}
			} else if res.AllNodes() || !res.NodeNames.Has(tc.pod.Spec.NodeName) || res.NodeNames.Len() != 1 {
				t.Errorf("PreFilter result = %v, want only %s", res, tc.pod.Spec.NodeName)
			}
		})
	}
}
