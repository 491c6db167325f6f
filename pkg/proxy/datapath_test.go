package proxy

import (
	"context"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/proxy/internal/netnstest"
)

func TestMain(m *testing.M) {
	netnstest.MaybeHelper()
	os.Exit(m.Run())
}

// The datapath test's network, all inside namespaces the test makes:
//
//	node namespace: br0 10.244.0.1/24 (pods p1-p3 of node-a, hairpin ports)
//	                vr1 10.244.1.1/24 -> r1 10.244.1.11 (a pod "on node-b")
//	                vc  10.200.0.1/24  -> c  10.200.0.2   (an outside client)
//	node IP: 10.200.0.1; service range 10.96.0.0/12 routed to br0.
//
// Nothing is routed out of the node namespace: it has no other link.
const (
	nodeName = "node-a"
	nodeIP   = "10.200.0.1"
	clientIP = "10.200.0.2"
)

var pods = map[string]string{"p1": "10.244.0.11", "p2": "10.244.0.12", "p3": "10.244.0.13", "r1": "10.244.1.11"}

func TestDatapath(t *testing.T) {
	node := netnstest.Enter(t)
	if node == nil {
		return
	}
	node.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
		node.Run("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	}
	node.AddBridge("br0", "10.244.0.1/24")
	for _, p := range []string{"p1", "p2", "p3"} {
		node.AddPod(p, "v"+p, "br0", pods[p]+"/24", "10.244.0.1/24")
	}
	node.AddPod("r1", "vr1", "", pods["r1"]+"/24", "10.244.1.1/24")
	node.AddPod("c", "vc", "", clientIP+"/24", nodeIP+"/24")
	// Host -> cluster IP needs a route for connect() to pick a source;
	// NAT then rewrites the destination.
	node.Run("ip", "route", "add", "10.96.0.0/12", "dev", "br0")
	for p := range pods {
		node.Serve(p, p, []int{80}, []int{53})
	}

	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	proxyDone := make(chan error, 1)
	go func() {
		proxyDone <- Run(ctx, &Options{
			Client:             client,
			HostnameOverride:   nodeName,
			NodeIPs:            []string{nodeIP},
			ClusterCIDR:        "10.244.0.0/16",
			MasqueradeBit:      14,
			LocalhostNodePorts: true,
			MinSyncPeriod:      100 * time.Millisecond,
			SyncPeriod:         30 * time.Second,
			HealthzBindAddress: "127.0.0.1:10256",
		})
	}()
	defer func() {
		cancel()
		if err := <-proxyDone; err != nil {
			t.Errorf("proxy: %v", err)
		}
		if err := Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if out := node.Run("iptables-nft-save"); strings.Contains(out, "KUBE-") {
			t.Errorf("KUBE- rules left after cleanup:\n%s", out)
		}
	}()

	api := &apiHelper{t: t, client: client}
	eventually(t, 10*time.Second, "first sync", func() bool {
		out, _ := exec.Command("iptables-nft", "-t", "nat", "-S", "KUBE-SERVICES").CombinedOutput()
		return strings.Contains(string(out), "KUBE-NODEPORTS")
	})
	// The egress guard of RECIPE.md, above the proxy's jumps: service-range
	// traffic that no rule DNATed is refused instead of being routed.
	node.Run("iptables-nft", "-N", "SKIFF-TEST-GUARD")
	node.Run("iptables-nft", "-A", "SKIFF-TEST-GUARD", "-d", "10.96.0.0/12", "-j", "REJECT")
	node.Run("iptables-nft", "-I", "OUTPUT", "1", "-j", "SKIFF-TEST-GUARD")
	node.Run("iptables-nft", "-I", "FORWARD", "1", "-j", "SKIFF-TEST-GUARD")
	defer func() {
		for _, c := range []string{"OUTPUT", "FORWARD"} {
			_ = exec.Command("iptables-nft", "-D", c, "-j", "SKIFF-TEST-GUARD").Run()
		}
		_ = exec.Command("iptables-nft", "-F", "SKIFF-TEST-GUARD").Run()
		_ = exec.Command("iptables-nft", "-X", "SKIFF-TEST-GUARD").Run()
	}()

	t.Run("ClusterIP balances over all endpoints, from the node and from a pod", func(t *testing.T) {
		api.service("web", "10.96.0.100", func(s *v1.Service) {})
		api.slice("web", "p1", "p2", "p3")
		waitAnswers(t, node, "", "http://10.96.0.100/", "p1", "p2", "p3")
		for _, from := range []string{"", "p2"} {
			got := backends(node.Fetch(from, "http://10.96.0.100/", 30))
			if strings.Join(got, ",") != "p1,p2,p3" {
				t.Errorf("from %q: 30 requests reached %v, want p1,p2,p3", from, got)
			}
		}
	})

	t.Run("hairpin: a pod reaches itself through its service", func(t *testing.T) {
		api.service("solo", "10.96.0.101", func(s *v1.Service) {})
		api.slice("solo", "p1")
		waitAnswers(t, node, "", "http://10.96.0.101/", "p1")
		for _, line := range node.Fetch("p1", "http://10.96.0.101/", 5) {
			// Masqueraded to the bridge address, so the reply comes back
			// through the node and is un-NATed.
			if !strings.HasPrefix(line, "p1 10.244.0.1:") {
				t.Errorf("hairpin answer %q, want p1 seeing 10.244.0.1", line)
			}
		}
	})

	t.Run("NodePort on the node IP, on 127.0.0.1 and from outside", func(t *testing.T) {
		api.service("np", "10.96.0.102", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 20080
		})
		api.slice("np", "p1", "p2", "p3")
		for _, target := range []struct{ from, url string }{
			{"", "http://" + nodeIP + ":20080/"},
			{"", "http://127.0.0.1:20080/"},
			{"c", "http://" + nodeIP + ":20080/"},
		} {
			waitAnswers(t, node, target.from, target.url, "p1", "p2", "p3")
		}
	})

	t.Run("LoadBalancer ingress IP answers", func(t *testing.T) {
		api.service("lb", "10.96.0.103", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].Port = 8080
			s.Spec.Ports[0].NodePort = 20081
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: nodeIP}}
		})
		api.slice("lb", "p3")
		waitAnswers(t, node, "c", "http://"+nodeIP+":8080/", "p3")
	})

	t.Run("ClientIP affinity pins a client to one endpoint", func(t *testing.T) {
		api.service("sticky", "10.96.0.104", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 20082
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
		})
		api.slice("sticky", "p1", "p2", "p3")
		eventually(t, 10*time.Second, "sticky service answers", func() bool {
			return !strings.HasPrefix(node.Fetch("", "http://10.96.0.104/", 1)[0], "ERR")
		})
		for _, target := range []struct{ from, url string }{
			{"", "http://10.96.0.104/"},
			{"c", "http://" + nodeIP + ":20082/"},
		} {
			if got := backends(node.Fetch(target.from, target.url, 20)); len(got) != 1 {
				t.Errorf("from %q: 20 requests with ClientIP affinity reached %v, want one endpoint", target.from, got)
			}
		}
	})

	t.Run("externalTrafficPolicy Local keeps the client address and uses local endpoints only", func(t *testing.T) {
		api.service("etp", "10.96.0.105", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 20083
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		})
		api.slice("etp", "p1", "r1")
		url := "http://" + nodeIP + ":20083/"
		waitAnswers(t, node, "c", url, "p1")
		got := node.Fetch("c", url, 20)
		if b := backends(got); strings.Join(b, ",") != "p1" {
			t.Errorf("outside client reached %v, want only the local p1", b)
		}
		if !strings.HasPrefix(got[0], "p1 "+clientIP+":") {
			t.Errorf("answer %q: the client address was not kept", got[0])
		}
		// From the node itself the cluster policy applies (both endpoints).
		waitAnswers(t, node, "", url, "p1", "r1")
		// With the Cluster policy both endpoints answer, masqueraded.
		api.service("etp", "10.96.0.105", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 20083
		})
		waitAnswers(t, node, "c", url, "p1", "r1")
		for _, line := range node.Fetch("c", url, 10) {
			if strings.Contains(line, clientIP) {
				t.Errorf("answer %q: Cluster policy did not masquerade", line)
			}
		}
	})

	t.Run("internalTrafficPolicy Local uses local endpoints only", func(t *testing.T) {
		api.service("itp", "10.96.0.106", func(s *v1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
		})
		api.slice("itp", "p2", "r1")
		waitAnswers(t, node, "", "http://10.96.0.106/", "p2")
		if b := backends(node.Fetch("", "http://10.96.0.106/", 20)); strings.Join(b, ",") != "p2" {
			t.Errorf("reached %v, want only p2", b)
		}
	})

	t.Run("no endpoints: rejected at once; terminating endpoints still serve", func(t *testing.T) {
		api.service("gone", "10.96.0.107", func(s *v1.Service) {})
		api.slice("gone", "p1", "p2")
		waitAnswers(t, node, "", "http://10.96.0.107/", "p1", "p2")
		// Both pods terminating but still serving: kept.
		api.sliceWith("gone", []string{"p1", "p2"}, discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)})
		time.Sleep(300 * time.Millisecond) // more than MinSyncPeriod: the update is applied
		if b := backends(node.Fetch("", "http://10.96.0.107/", 10)); strings.Join(b, ",") != "p1,p2" {
			t.Errorf("terminating endpoints: reached %v, want p1,p2", b)
		}
		// Scaled to 0.
		start := time.Now()
		api.slice("gone")
		eventually(t, 5*time.Second, "connection refused", func() bool { return refused("10.96.0.107:80") })
		t.Logf("refused %v after the EndpointSlice update", time.Since(start).Round(time.Millisecond))
		if time.Since(start) > 2*time.Second {
			t.Errorf("took %v to refuse", time.Since(start))
		}
		// A service that never had endpoints: refused too (REJECT, not a
		// timeout).
		api.service("empty", "10.96.0.108", func(s *v1.Service) {})
		eventually(t, 5*time.Second, "connection refused", func() bool { return refused("10.96.0.108:80") })
	})

	t.Run("UDP conntrack entries follow endpoint changes", func(t *testing.T) {
		api.service("dns", "10.96.0.53", func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}}
		})
		api.sliceUDP("dns", "p1")
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("10.244.0.1"), Port: 40053})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := func() string {
			_, _ = conn.WriteTo([]byte("q"), &net.UDPAddr{IP: net.ParseIP("10.96.0.53"), Port: 53})
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 64)
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return "ERR"
			}
			return string(buf[:n])
		}
		eventually(t, 5*time.Second, "UDP answer from p1", func() bool { return ask() == "p1" })
		// p1 keeps running; only the slice changes. The same client flow
		// must move to p2 (its conntrack entry is deleted), not stick to p1.
		api.sliceUDP("dns", "p2")
		eventually(t, 5*time.Second, "UDP answer from p2", func() bool { return ask() == "p2" })
	})

	t.Run("healthz", func(t *testing.T) {
		if got := node.Fetch("", "http://127.0.0.1:10256/healthz", 1); !strings.HasPrefix(got[0], "last successful sync") {
			t.Errorf("/healthz: %q", got)
		}
	})
}

type apiHelper struct {
	t      *testing.T
	client *fake.Clientset
}

// service creates or replaces a Service with one TCP port 80.
func (a *apiHelper) service(name, ip string, mutate func(*v1.Service)) {
	a.t.Helper()
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
		},
	}
	mutate(svc)
	ctx := context.Background()
	if _, err := a.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{}); err == nil {
		_, err = a.client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{})
		if err != nil {
			a.t.Fatal(err)
		}
		return
	}
	if _, err := a.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

func (a *apiHelper) slice(svc string, podNames ...string) {
	a.sliceWith(svc, podNames, discovery.EndpointConditions{Ready: ptr.To(true)})
}

func (a *apiHelper) sliceWith(svc string, podNames []string, cond discovery.EndpointConditions) {
	a.t.Helper()
	a.put(svc, podNames, cond, discovery.EndpointPort{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(v1.ProtocolTCP)})
}

func (a *apiHelper) sliceUDP(svc string, podNames ...string) {
	a.t.Helper()
	a.put(svc, podNames, discovery.EndpointConditions{Ready: ptr.To(true)}, discovery.EndpointPort{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(v1.ProtocolUDP)})
}

func (a *apiHelper) put(svc string, podNames []string, cond discovery.EndpointConditions, port discovery.EndpointPort) {
	a.t.Helper()
	slice := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: svc + "-abcde",
			Labels: map[string]string{discovery.LabelServiceName: svc},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{port},
	}
	for _, p := range podNames {
		n := nodeName
		if strings.HasPrefix(p, "r") {
			n = "node-b"
		}
		slice.Endpoints = append(slice.Endpoints, discovery.Endpoint{Addresses: []string{pods[p]}, NodeName: ptr.To(n), Conditions: cond})
	}
	ctx := context.Background()
	slices := a.client.DiscoveryV1().EndpointSlices("default")
	if _, err := slices.Get(ctx, slice.Name, metav1.GetOptions{}); err == nil {
		if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			a.t.Fatal(err)
		}
		return
	}
	if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

// backends returns the distinct pod names in the answers (and any error
// as "ERR").
func backends(answers []string) []string {
	set := map[string]bool{}
	for _, a := range answers {
		set[strings.Fields(a + " ERR")[0]] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitAnswers waits until requests to url (from pod, "" for the node)
// have reached exactly the given pods.
func waitAnswers(t *testing.T, node *netnstest.Node, from, url string, want ...string) {
	t.Helper()
	sort.Strings(want)
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got = backends(node.Fetch(from, url, 3*len(want)+3))
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, a := range node.Fetch(from, url, 1) {
		t.Logf("last answer: %s", a)
	}
	out, _ := exec.Command("iptables-nft-save", "-c").CombinedOutput()
	t.Logf("iptables:\n%s", out)
	if os.Getenv("SKIFF_NETNS_KEEP") != "" {
		t.Logf("keeping the namespaces for 120 s")
		time.Sleep(120 * time.Second)
	}
	t.Fatalf("%s from %q: reached %v, want %v", url, from, got, want)
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
		return false
	}
	return strings.Contains(err.Error(), "connection refused")
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
