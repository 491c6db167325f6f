package schedulinggates

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestPreEnqueue(t *testing.T) {
	pl := &SchedulingGates{}
	if s := pl.PreEnqueue(t.Context(), st.MakePod("ns", "p").Obj()); !s.IsSuccess() {
		t.Errorf("ungated pod: %v", s)
	}
	gated := st.MakePod("ns", "p").Obj()
	gated.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "foo"}, {Name: "bar"}}
	s := pl.PreEnqueue(t.Context(), gated)
	if s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != "waiting for scheduling gates: [foo bar]" {
		t.Errorf("gated pod: %v %q", s.Code(), s.Message())
	}
}
