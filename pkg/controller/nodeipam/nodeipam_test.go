package nodeipam

import (
	"context"
	"fmt"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	netutils "k8s.io/utils/net"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := netutils.ParseCIDRSloppy(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCIDRSetRoundRobin(t *testing.T) {
	set, err := newCIDRSet(mustCIDR(t, "10.244.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.occupy(mustCIDR(t, "10.244.1.0/24")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 3; i++ {
		c, err := set.allocateNext()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.String())
	}
	if fmt.Sprint(got) != "[10.244.0.0/24 10.244.2.0/24 10.244.3.0/24]" {
		t.Errorf("allocated %v", got)
	}
	if _, err := set.allocateNext(); err != errNoCIDRsRemaining {
		t.Errorf("full set: %v", err)
	}
	// A released subnet is reused only after the others (round-robin).
	if err := set.release(mustCIDR(t, "10.244.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if c, _ := set.allocateNext(); c.String() != "10.244.0.0/24" {
		t.Errorf("after release: %s", c)
	}
	if err := set.occupy(mustCIDR(t, "10.245.0.0/24")); err == nil {
		t.Errorf("a subnet outside the cluster CIDR was accepted")
	}
}

func TestCIDRSetIPv6(t *testing.T) {
	set, err := newCIDRSet(mustCIDR(t, "fd00:10:244::/56"), 64)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := set.allocateNext()
	b, _ := set.allocateNext()
	if a.String() != "fd00:10:244::/64" || b.String() != "fd00:10:244:1::/64" {
		t.Errorf("allocated %s %s", a, b)
	}
	if _, err := newCIDRSet(mustCIDR(t, "fd00::/32"), 64); err == nil {
		t.Errorf("a 32-bit wide bitmap was accepted")
	}
}

func TestParseClusterCIDRs(t *testing.T) {
	cidrs, masks, err := ParseClusterCIDRs("10.244.0.0/16,fd00:10:244::/56", 24, 64)
	if err != nil || len(cidrs) != 2 || masks[0] != 24 || masks[1] != 64 {
		t.Errorf("dual stack: %v %v %v", cidrs, masks, err)
	}
	if _, _, err := ParseClusterCIDRs("10.244.0.0/16,10.245.0.0/16", 24, 64); err == nil {
		t.Errorf("two IPv4 CIDRs accepted")
	}
	if _, _, err := ParseClusterCIDRs("nonsense", 24, 64); err == nil {
		t.Errorf("bad CIDR accepted")
	}
}

func TestAllocatesToNodes(t *testing.T) {
	existing := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}}}
	fresh := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new"}}
	client := fake.NewClientset(existing, fresh)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Nodes(), []*net.IPNet{mustCIDR(t, "10.244.0.0/16")}, []int{24})
	if err != nil {
		t.Fatal(err)
	}
	c.recorder = record.NewFakeRecorder(10)
	for _, n := range []*corev1.Node{existing, fresh} {
		if err := factory.Core().V1().Nodes().Informer().GetIndexer().Add(n); err != nil {
			t.Fatal(err)
		}
	}
	c.occupyExisting(context.Background())
	for _, name := range []string{"old", "new"} {
		if err := c.syncNode(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := client.CoreV1().Nodes().Get(context.Background(), "new", metav1.GetOptions{})
	if got.Spec.PodCIDR != "10.244.1.0/24" || len(got.Spec.PodCIDRs) != 1 || got.Spec.PodCIDRs[0] != "10.244.1.0/24" {
		t.Errorf("new node: podCIDR %q podCIDRs %v", got.Spec.PodCIDR, got.Spec.PodCIDRs)
	}
	// The informer has not seen the patch yet: no second allocation.
	client.ClearActions()
	if err := c.syncNode(context.Background(), "new"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("a stale cache led to %d more writes", n)
	}
	old, _ := client.CoreV1().Nodes().Get(context.Background(), "old", metav1.GetOptions{})
	if old.Spec.PodCIDR != "10.244.0.0/24" {
		t.Errorf("existing node's CIDR changed: %q", old.Spec.PodCIDR)
	}
}
