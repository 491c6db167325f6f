package dynamicresources

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func claim(name string, allocatedOn string, reservedFor ...string) *resourceapi.ResourceClaim {
	c := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	if allocatedOn != "" {
		c.Status.Allocation = &resourceapi.AllocationResult{}
		if allocatedOn != "*" {
			c.Status.Allocation.NodeSelector = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{allocatedOn}}}}}}
		}
	}
	for _, uid := range reservedFor {
		c.Status.ReservedFor = append(c.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: "other", UID: types.UID("uid-" + uid)})
	}
	return c
}

func podWithClaim(claimName string) *v1.Pod {
	p := st.MakePod("ns", "p").Obj()
	p.UID = "uid-p"
	p.Spec.ResourceClaims = []v1.PodResourceClaim{{Name: "gpu", ResourceClaimName: ptr.To(claimName)}}
	return p
}

func TestScheduling(t *testing.T) {
	full := claim("full", "*")
	for i := 0; i < resourceapi.ResourceClaimReservedForMaxSize; i++ {
		full.Status.ReservedFor = append(full.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: "x", UID: "uid-x"})
	}
	objs := []runtime.Object{claim("unallocated", ""), claim("on-n1", "n1"), claim("anywhere", "*", "q"), full}
	nodes := []*v1.Node{st.MakeNode("n1").Obj(), st.MakeNode("n2").Obj()}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil, objs...)

	for name, tc := range map[string]struct {
		pod        *v1.Pod
		node       string
		wantCode   framework.Code
		wantReason string
	}{
		"no claims":                     {pod: st.MakePod("ns", "p").Obj(), node: "n1", wantCode: framework.Success},
		"claim allocated for n1, on n1": {pod: podWithClaim("on-n1"), node: "n1", wantCode: framework.Success},
		"claim allocated for n1, on n2": {pod: podWithClaim("on-n1"), node: "n2", wantCode: framework.UnschedulableAndUnresolvable, wantReason: ErrReasonNotOnNode},
		"shareable allocated claim":     {pod: podWithClaim("anywhere"), node: "n2", wantCode: framework.Success},
		"unallocated claim":             {pod: podWithClaim("unallocated"), node: "n1", wantCode: framework.UnschedulableAndUnresolvable, wantReason: ErrReasonNotAllocated},
		"claim reserved to the limit":   {pod: podWithClaim("full"), node: "n1", wantCode: framework.UnschedulableAndUnresolvable, wantReason: ErrReasonInUse},
		"missing claim":                 {pod: podWithClaim("nope"), node: "n1", wantCode: framework.UnschedulableAndUnresolvable, wantReason: `"nope" not found`},
	} {
		t.Run(name, func(t *testing.T) {
			s := f.Filter(t, tc.pod, tc.node)
			if s.Code() != tc.wantCode || !strings.Contains(s.Message(), tc.wantReason) {
				t.Errorf("status %v %q, want %v containing %q", s.Code(), s.Message(), tc.wantCode, tc.wantReason)
			}
		})
	}
}

func TestPreEnqueueWaitsForGeneratedClaim(t *testing.T) {
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nil, nil)
	pod := st.MakePod("ns", "p").Obj()
	pod.Spec.ResourceClaims = []v1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: ptr.To("t")}}
	pl := f.PreEnqueuePlugins()[0]
	s := pl.PreEnqueue(context.Background(), pod)
	if s.Code() != framework.UnschedulableAndUnresolvable {
		t.Errorf("pod whose claim is not generated yet: %v %q, want UnschedulableAndUnresolvable", s.Code(), s.Message())
	}
	// Recorded as intentionally without a claim: nothing to wait for.
	pod.Status.ResourceClaimStatuses = []v1.PodResourceClaimStatus{{Name: "gpu"}}
	if s := pl.PreEnqueue(context.Background(), pod); !s.IsSuccess() {
		t.Errorf("pod needing no claim: %v %q", s.Code(), s.Message())
	}
}

func TestPreBindReserves(t *testing.T) {
	nodes := []*v1.Node{st.MakeNode("n1").Obj()}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil, claim("on-n1", "n1"))
	pod := podWithClaim("on-n1")
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, s, _ := f.RunPreFilterPlugins(ctx, state, pod); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	if s := f.RunPreBindPlugins(ctx, state, pod, "n1"); !s.IsSuccess() {
		t.Fatalf("PreBind: %v", s)
	}
	c, err := f.Client.ResourceV1().ResourceClaims("ns").Get(ctx, "on-n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Status.ReservedFor) != 1 || c.Status.ReservedFor[0].UID != pod.UID || c.Status.ReservedFor[0].Resource != "pods" {
		t.Errorf("reservedFor = %+v, want the pod", c.Status.ReservedFor)
	}
}
