package iptables

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lithammer/dedent"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

const (
	testNodeName = "test-node"
	testNodeIP   = "192.168.0.2"
)

type fakeSysctls map[string]string

func (f fakeSysctls) Get(name string) string { return f[name] }
func (f fakeSysctls) Set(name, value string) error {
	f[name] = value
	return nil
}

type fakeConntrack struct {
	calls int
	ports []*servicePort
}

func (f *fakeConntrack) CleanStaleUDP(ports []*servicePort, _ map[ServicePortName][]*endpoint) (int, error) {
	f.calls++
	f.ports = ports
	return 0, nil
}

type testProxier struct {
	*Proxier
	ipt *fakeIPTables
	ct  *fakeConntrack
	sc  fakeSysctls
}

// newTestProxier is set up like upstream's NewFakeProxier: pod CIDR
// 10.0.0.0/8, mark 0x4000, localhost NodePorts on.
func newTestProxier(t testing.TB, mutate ...func(*Config)) *testProxier {
	t.Helper()
	cfg := Config{
		Family:             v1.IPv4Protocol,
		NodeName:           testNodeName,
		NodeIP:             net4(testNodeIP),
		ClusterCIDR:        "10.0.0.0/8",
		MasqueradeBit:      14,
		LocalhostNodePorts: true,
		MinSyncPeriod:      0,
		SyncPeriod:         30 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	ipt := newFakeIPTables()
	ct := &fakeConntrack{}
	sc := fakeSysctls{}
	p, err := newProxier(cfg, ipt, ct, clocktesting.NewFakeClock(time.Unix(1e9, 0)), sc)
	if err != nil {
		t.Fatal(err)
	}
	// Upstream's test proxier writes the mark as "0x4000"; the real one,
	// like upstream's, writes %#08x ("0x004000"), which iptables shows as
	// 0x4000 too.
	p.writer.cfg.masqueradeMark = "0x4000"
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()
	return &testProxier{Proxier: p, ipt: ipt, ct: ct, sc: sc}
}

func (tp *testProxier) addService(svc *v1.Service) {
	tp.OnServiceUpdate(types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, svc)
}

func (tp *testProxier) deleteService(ns, name string) {
	tp.OnServiceUpdate(types.NamespacedName{Namespace: ns, Name: name}, nil)
}

func (tp *testProxier) mustSync(t testing.TB) SyncStats {
	t.Helper()
	if err := tp.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return tp.LastSync()
}

func net4(s string) []byte {
	var a, b, c, d byte
	fmt.Sscanf(s, "%d.%d.%d.%d", &a, &b, &c, &d)
	return []byte{a, b, c, d}
}

func makeService(ns, name string, mutate func(*v1.Service)) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{
			Type:            v1.ServiceTypeClusterIP,
			SessionAffinity: v1.ServiceAffinityNone,
		},
	}
	mutate(svc)
	return svc
}

func makeSlice(ns, svc string, n int, mutate func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      fmt.Sprintf("%s-%d", svc, n),
			Labels:    map[string]string{discovery.LabelServiceName: svc},
		},
		AddressType: discovery.AddressTypeIPv4,
	}
	mutate(s)
	return s
}

func tcpPort(name string, port int32) []discovery.EndpointPort {
	return []discovery.EndpointPort{{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(v1.ProtocolTCP)}}
}

// overallCluster is the small cluster of upstream's
// TestOverallIPTablesRules.
func overallCluster(tp *testProxier) {
	tp.addService(makeService("ns1", "svc1", func(svc *v1.Service) {
		svc.Spec.ClusterIP = "172.30.0.41"
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
	}))
	tp.addService(makeService("ns2", "svc2", func(svc *v1.Service) {
		svc.Spec.Type = v1.ServiceTypeLoadBalancer
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		svc.Spec.ClusterIP = "172.30.0.42"
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3001}}
		svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		svc.Spec.ExternalIPs = []string{"192.168.99.22"}
		svc.Spec.HealthCheckNodePort = 30000
	}))
	tp.addService(makeService("ns3", "svc3", func(svc *v1.Service) {
		svc.Spec.Type = v1.ServiceTypeNodePort
		svc.Spec.ClusterIP = "172.30.0.43"
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3003}}
	}))
	tp.addService(makeService("ns4", "svc4", func(svc *v1.Service) {
		svc.Spec.Type = v1.ServiceTypeNodePort
		svc.Spec.ClusterIP = "172.30.0.44"
		svc.Spec.ExternalIPs = []string{"192.168.99.33"}
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
	}))
	tp.addService(makeService("ns5", "svc5", func(svc *v1.Service) {
		svc.Spec.Type = v1.ServiceTypeLoadBalancer
		svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
		svc.Spec.ClusterIP = "172.30.0.45"
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3002}}
		svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "5.6.7.8"}}
		svc.Spec.HealthCheckNodePort = 30000
		svc.Spec.LoadBalancerSourceRanges = []string{" 203.0.113.0/25"}
		svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)}}
	}))
	tp.addService(makeService("ns6", "svc6", func(svc *v1.Service) {
		svc.Spec.ClusterIP = "172.30.0.46"
		svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
	}))
	for _, s := range []*discovery.EndpointSlice{
		makeSlice("ns1", "svc1", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.1"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		// Not local (no node name): ignored by the Local policy.
		makeSlice("ns2", "svc2", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.2"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns3", "svc3", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.3"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns4", "svc4", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.4"}}, {Addresses: []string{"10.180.0.5"}, NodeName: ptr.To(testNodeName)}}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns5", "svc5", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.3"}}}
			s.Ports = tcpPort("p80", 80)
		}),
	} {
		tp.OnEndpointSliceUpdate(s, false)
	}
}

// upstreamOverallRules is the expected output of upstream's
// TestOverallIPTablesRules (k8s.io/kubernetes v1.37.2,
// pkg/proxy/iptables/proxier_test.go) without its nfacct counters, which
// skiff does not use: the INVALID drop has no nfacct match and the
// localhost NodePort rules with one are absent (the plain NodePort rule
// covers 127.0.0.1 as well).
var upstreamOverallRules = dedent.Dedent(`
	*filter
	:KUBE-NODEPORTS - [0:0]
	:KUBE-SERVICES - [0:0]
	:KUBE-EXTERNAL-SERVICES - [0:0]
	:KUBE-FIREWALL - [0:0]
	:KUBE-FORWARD - [0:0]
	:KUBE-PROXY-FIREWALL - [0:0]
	-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
	-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
	-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
	-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
	-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
	-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
	-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
	-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
	-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
	COMMIT
	*nat
	:KUBE-NODEPORTS - [0:0]
	:KUBE-SERVICES - [0:0]
	:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
	:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
	:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
	:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
	:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
	:KUBE-MARK-MASQ - [0:0]
	:KUBE-POSTROUTING - [0:0]
	:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
	:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
	:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
	:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
	:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
	:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
	:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
	:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
	:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
	:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
	:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
	-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
	-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
	-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
	-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
	-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
	-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
	-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
	-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
	-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
	-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
	-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
	-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
	-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
	-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
	-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
	-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
	-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
	-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
	-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
	-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
	-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
	-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
	-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
	-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
	-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
	-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
	-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
	-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
	-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
	-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
	-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
	-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
	-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
	-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
	-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
	-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
	-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
	-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
	-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
	-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
	-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
	-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
	-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
	-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
	-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
	-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
	-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
	-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
	-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
	-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
	-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
	-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
	COMMIT
	`)

func TestOverallRulesMatchUpstream(t *testing.T) {
	tp := newTestProxier(t)
	overallCluster(tp)
	stats := tp.mustSync(t)
	if !stats.Full {
		t.Errorf("first sync was not full")
	}
	got, want := sortRestoreInput(tp.ipt.lastRestore()), sortRestoreInput(upstreamOverallRules)
	if got != want {
		t.Errorf("rules differ from upstream's:\n%s", lineDiff(want, got))
	}
	// The jumps from the built-in chains are upstream's, at the top.
	if r := tp.ipt.tables["nat"].chains["PREROUTING"]; len(r) != 1 || r[0] != `-m comment --comment kubernetes service portals -j KUBE-SERVICES` {
		t.Errorf("nat PREROUTING = %q", r)
	}
	if got := len(tp.ipt.tables["filter"].chains["FORWARD"]); got != 4 {
		t.Errorf("filter FORWARD has %d jumps, want 4", got)
	}
	if tp.sc["net/ipv4/conf/all/route_localnet"] != "1" {
		t.Errorf("route_localnet not set for localhost NodePorts")
	}
	// The expected input above has 10 filter and 52 nat rules.
	if stats.NATRules != 52 || stats.FilterRules != 10 {
		t.Errorf("counted %d nat and %d filter rules, want 52 and 10", stats.NATRules, stats.FilterRules)
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := map[string]int{}, map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		w[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		g[l]++
	}
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] < w[l] {
			b.WriteString("- " + l + "\n")
			g[l]++
		}
	}
	w2 := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		w2[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		if w2[l] == 0 {
			b.WriteString("+ " + l + "\n")
		} else {
			w2[l]--
		}
	}
	return b.String()
}

var _ clock.Clock = clocktesting.NewFakeClock(time.Time{})
