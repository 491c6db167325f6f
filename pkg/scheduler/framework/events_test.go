package framework

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestPodSchedulingPropertiesChange(t *testing.T) {
	base := &v1.Pod{Spec: v1.PodSpec{SchedulingGates: []v1.PodSchedulingGate{{Name: "g"}}}}
	for name, tc := range map[string]struct {
		change func(*v1.Pod)
		want   ActionType
	}{
		"label":         {func(p *v1.Pod) { p.Labels = map[string]string{"a": "b"} }, UpdatePodLabel},
		"gates removed": {func(p *v1.Pod) { p.Spec.SchedulingGates = nil }, UpdatePodSchedulingGatesEliminated},
		"toleration":    {func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Key: "k"}} }, UpdatePodToleration},
		"claim recorded": {func(p *v1.Pod) {
			p.Status.ResourceClaimStatuses = []v1.PodResourceClaimStatus{{Name: "c", ResourceClaimName: ptr.To("p-c-x")}}
		}, UpdatePodGeneratedResourceClaim},
		"anything else": {func(p *v1.Pod) { p.Status.Message = "m" }, Update},
	} {
		t.Run(name, func(t *testing.T) {
			p := base.DeepCopy()
			tc.change(p)
			events := PodSchedulingPropertiesChange(p, base, true)
			if len(events) != 1 || events[0].ActionType != tc.want || events[0].Resource != TargetPod {
				t.Errorf("events = %v, want one TargetPod %v", events, tc.want)
			}
		})
	}
}
