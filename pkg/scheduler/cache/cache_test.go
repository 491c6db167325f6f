package cache

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

func node(name, zone string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if zone != "" {
		n.Labels[v1.LabelTopologyZone] = zone
	}
	n.Status.Allocatable = v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourcePods: resource.MustParse("10")}
	return n
}

func pod(name, nodeName string, cpu string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name)}, Spec: v1.PodSpec{NodeName: nodeName,
		Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}}}
	return p
}

func requestedCPU(t *testing.T, s *Snapshot, n string) int64 {
	t.Helper()
	ni, err := s.Get(n)
	if err != nil {
		t.Fatal(err)
	}
	return ni.Requested.MilliCPU
}

func TestAssumeConfirmForget(t *testing.T) {
	logger := klog.Background()
	c := New()
	c.AddNode(logger, node("n1", ""))
	s := NewEmptySnapshot()

	p := pod("p", "n1", "1")
	if err := c.AssumePod(logger, p); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(logger, p); err == nil {
		t.Error("assuming twice should fail")
	}
	_ = c.UpdateSnapshot(logger, s)
	if got := requestedCPU(t, s, "n1"); got != 1000 {
		t.Errorf("assumed pod not counted: %d", got)
	}
	if ok, _ := c.IsAssumedPod(p); !ok {
		t.Error("pod not assumed")
	}
	// The informer confirms the binding.
	if err := c.AddPod(logger, p); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.IsAssumedPod(p); ok {
		t.Error("confirmed pod still assumed")
	}
	if err := c.ForgetPod(logger, p); err == nil {
		t.Error("a confirmed pod cannot be forgotten")
	}

	q := pod("q", "n1", "2")
	_ = c.AssumePod(logger, q)
	if err := c.ForgetPod(logger, q); err != nil {
		t.Fatal(err)
	}
	_ = c.UpdateSnapshot(logger, s)
	if got := requestedCPU(t, s, "n1"); got != 1000 {
		t.Errorf("forgotten pod still counted: %d", got)
	}
	if err := c.RemovePod(logger, p); err != nil {
		t.Fatal(err)
	}
	_ = c.UpdateSnapshot(logger, s)
	if got := requestedCPU(t, s, "n1"); got != 0 {
		t.Errorf("removed pod still counted: %d", got)
	}
}

func TestAssumedPodBoundElsewhere(t *testing.T) {
	logger := klog.Background()
	c := New()
	c.AddNode(logger, node("n1", ""))
	c.AddNode(logger, node("n2", ""))
	_ = c.AssumePod(logger, pod("p", "n1", "1"))
	// Another binder put it on n2.
	_ = c.AddPod(logger, pod("p", "n2", "1"))
	s := NewEmptySnapshot()
	_ = c.UpdateSnapshot(logger, s)
	if requestedCPU(t, s, "n1") != 0 || requestedCPU(t, s, "n2") != 1000 {
		t.Error("pod not moved to the node it was bound to")
	}
}

func TestIncrementalSnapshot(t *testing.T) {
	logger := klog.Background()
	c := New()
	for _, n := range []string{"a1", "a2", "b1"} {
		c.AddNode(logger, node(n, "zone-"+n[:1]))
	}
	s := NewEmptySnapshot()
	_ = c.UpdateSnapshot(logger, s)
	list, _ := s.List()
	// Zones are interleaved: a1, b1, a2.
	if len(list) != 3 || list[0].Node().Name != "a1" || list[1].Node().Name != "b1" || list[2].Node().Name != "a2" {
		t.Fatalf("list order %v", names(list))
	}
	before, _ := s.Get("a2")
	untouched, _ := s.Get("b1")
	gen := untouched.Generation
	_ = c.AddPod(logger, pod("p", "a2", "1"))
	_ = c.UpdateSnapshot(logger, s)
	after, _ := s.Get("a2")
	if before != after {
		t.Error("snapshot NodeInfo pointer replaced; lists would be stale")
	}
	if after.Requested.MilliCPU != 1000 {
		t.Error("updated node not copied")
	}
	if b1, _ := s.Get("b1"); b1.Generation != gen {
		t.Error("untouched node re-copied")
	}
	// Deleting a node with pods keeps the pods but drops the node.
	if err := c.RemoveNode(logger, node("a2", "zone-a")); err != nil {
		t.Fatal(err)
	}
	_ = c.UpdateSnapshot(logger, s)
	if _, err := s.Get("a2"); err == nil || s.NumNodes() != 2 {
		t.Errorf("deleted node still in the snapshot (%d nodes)", s.NumNodes())
	}
	if c.PodCount() != 1 {
		t.Error("pod of the deleted node forgotten")
	}
}

func TestPodsWithAffinityLists(t *testing.T) {
	logger := klog.Background()
	c := New()
	c.AddNode(logger, node("n1", ""))
	c.AddNode(logger, node("n2", ""))
	s := NewEmptySnapshot()
	_ = c.UpdateSnapshot(logger, s)
	p := pod("p", "n1", "1")
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{TopologyKey: v1.LabelHostname}}}}
	_ = c.AddPod(logger, p)
	_ = c.UpdateSnapshot(logger, s)
	aff, _ := s.HavePodsWithAffinityList()
	anti, _ := s.HavePodsWithRequiredAntiAffinityList()
	if len(aff) != 1 || len(anti) != 1 || aff[0].Node().Name != "n1" {
		t.Errorf("affinity lists %v / %v", names(aff), names(anti))
	}
	_ = c.RemovePod(logger, p)
	_ = c.UpdateSnapshot(logger, s)
	if aff, _ := s.HavePodsWithAffinityList(); len(aff) != 0 {
		t.Error("list not updated after the pod left")
	}
}

func TestImageStates(t *testing.T) {
	logger := klog.Background()
	c := New()
	for _, n := range []string{"n1", "n2"} {
		nd := node(n, "")
		nd.Status.Images = []v1.ContainerImage{{Names: []string{"busybox"}, SizeBytes: 10}}
		c.AddNode(logger, nd)
	}
	s := NewEmptySnapshot()
	_ = c.UpdateSnapshot(logger, s)
	ni, _ := s.Get("n1")
	if st := ni.ImageStates["busybox:latest"]; st == nil || st.NumNodes != 2 || st.Size != 10 {
		t.Errorf("image state %+v", st)
	}
}

func names(l []*framework.NodeInfo) []string {
	var out []string
	for _, n := range l {
		out = append(out, n.Node().Name)
	}
	return out
}
