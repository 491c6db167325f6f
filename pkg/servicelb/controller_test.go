package servicelb

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func node(name string, ready bool, addrs ...v1.NodeAddress) *v1.Node {
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: v1.NodeStatus{
			Addresses:  addrs,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: status}},
		},
	}
}

func lbService(name string, created time.Time, port int32, mutate ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeLoadBalancer,
			IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Ports:      []v1.ServicePort{{Port: port, Protocol: v1.ProtocolTCP}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

type harness struct {
	t      *testing.T
	client *fake.Clientset
}

func start(t *testing.T, objs ...any) *harness {
	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, client: client}
	for _, o := range objs {
		h.create(o)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)
	return h
}

func (h *harness) create(o any) {
	h.t.Helper()
	ctx := context.Background()
	var err error
	switch o := o.(type) {
	case *v1.Node:
		_, err = h.client.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
	case *v1.Service:
		_, err = h.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

// waitIngress waits until the service's ingress IPs are want (none: nil).
func (h *harness) waitIngress(name string, want ...string) {
	h.t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		svc, err := h.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			h.t.Fatal(err)
		}
		got = ingressIPs(svc.Status.LoadBalancer.Ingress)
		if len(got) == len(want) && (len(want) == 0 || equal(got, want)) {
			// Stay stable for a moment: nothing else should change it.
			return
		}
	}
	h.t.Fatalf("%s: ingress %v, want %v", name, got, want)
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadBalancerGetsReadyNodeAddresses(t *testing.T) {
	now := time.Now()
	h := start(t,
		node("a", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.10"}, v1.NodeAddress{Type: v1.NodeHostName, Address: "a"}),
		node("b", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.11"}, v1.NodeAddress{Type: v1.NodeExternalIP, Address: "203.0.113.11"}),
		node("c", false, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.12"}),
		node("d", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "fd00::13"}),
		lbService("web", now, 80),
	)
	// Node b's ExternalIP replaces its InternalIP; c is not ready; d has
	// only IPv6 and the service is IPv4.
	h.waitIngress("web", "192.0.2.10", "203.0.113.11")
	svc, _ := h.client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != v1.LoadBalancerIPModeVIP {
		t.Errorf("ipMode = %v, want VIP", m)
	}
	// Node c becomes ready: its address is added.
	c := node("c", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.12"})
	if _, err := h.client.CoreV1().Nodes().UpdateStatus(context.Background(), c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitIngress("web", "192.0.2.10", "192.0.2.12", "203.0.113.11")
}

func TestPortConflictAndRelease(t *testing.T) {
	now := time.Now()
	h := start(t,
		node("a", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.10"}),
		lbService("first", now, 80),
		lbService("second", now.Add(time.Second), 80),
		lbService("other-port", now.Add(2*time.Second), 81),
	)
	h.waitIngress("first", "192.0.2.10")
	h.waitIngress("other-port", "192.0.2.10")
	time.Sleep(200 * time.Millisecond)
	h.waitIngress("second")
	if err := h.client.CoreV1().Services("default").Delete(context.Background(), "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitIngress("second", "192.0.2.10")
}

func TestOtherClassesAndTypeChanges(t *testing.T) {
	now := time.Now()
	h := start(t,
		node("a", true, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.10"}),
		lbService("classy", now, 80, func(s *v1.Service) { s.Spec.LoadBalancerClass = ptr.To("example.com/lb") }),
		lbService("web", now, 8080),
	)
	h.waitIngress("web", "192.0.2.10")
	time.Sleep(200 * time.Millisecond)
	h.waitIngress("classy")
	// No longer a LoadBalancer: the address is withdrawn.
	svc, _ := h.client.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	svc.Spec.Type = v1.ServiceTypeClusterIP
	if _, err := h.client.CoreV1().Services("default").Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitIngress("web")
}
