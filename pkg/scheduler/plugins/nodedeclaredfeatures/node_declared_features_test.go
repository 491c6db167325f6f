package nodedeclaredfeatures

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestFilter(t *testing.T) {
	declaring := st.MakeNode("declaring").Obj()
	declaring.Status.DeclaredFeatures = []string{"RestartAllContainersOnContainerExits"}
	nodes := []*v1.Node{declaring, st.MakeNode("plain").Obj()}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil)

	plain := st.MakePod("ns", "p").Obj()
	if s := f.Filter(t, plain, "plain"); !s.IsSuccess() {
		t.Errorf("pod needing nothing: %v", s)
	}
	needs := st.MakePod("ns", "q").Obj()
	needs.Spec.Containers[0].RestartPolicyRules = []v1.ContainerRestartRule{{Action: v1.ContainerRestartRuleActionRestartAllContainers,
		ExitCodes: &v1.ContainerRestartRuleOnExitCodes{Operator: v1.ContainerRestartRuleOnExitCodesOpIn, Values: []int32{42}}}}
	if s := f.Filter(t, needs, "declaring"); !s.IsSuccess() {
		t.Errorf("node declaring the feature: %v", s)
	}
	if s := f.Filter(t, needs, "plain"); s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != "node(s) didn't match Pod's required features" {
		t.Errorf("node without the feature: %v %q", s.Code(), s.Message())
	}
}
