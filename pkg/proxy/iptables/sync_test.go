package iptables

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// world is the set of objects a test proxier was given, so that a fresh
// proxier can be built from the same objects.
type world struct {
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
}

func newWorld() *world {
	return &world{services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}
}

func (w *world) apply(tp *testProxier) {
	for _, s := range w.services {
		tp.addService(s)
	}
	for _, s := range w.slices {
		tp.OnEndpointSliceUpdate(s, false)
	}
}

// recorder wraps a test proxier and remembers everything it is given.
type recorder struct {
	*testProxier
	w *world
}

func (r *recorder) service(svc *v1.Service) {
	r.w.services[svc.Namespace+"/"+svc.Name] = svc
	r.addService(svc)
}

func (r *recorder) removeService(ns, name string) {
	delete(r.w.services, ns+"/"+name)
	r.deleteService(ns, name)
}

func (r *recorder) slice(s *discovery.EndpointSlice) {
	r.w.slices[s.Namespace+"/"+s.Name] = s
	r.OnEndpointSliceUpdate(s, false)
}

func (r *recorder) removeSlice(s *discovery.EndpointSlice) {
	delete(r.w.slices, s.Namespace+"/"+s.Name)
	r.OnEndpointSliceUpdate(s, true)
}

// checkSameAsFresh compares the tables after the incremental syncs with
// those a fresh proxier writes in one full sync of the same objects.
func (r *recorder) checkSameAsFresh(t *testing.T, step string) {
	t.Helper()
	fresh := newTestProxier(t)
	r.w.apply(fresh)
	fresh.mustSync(t)
	for _, table := range []string{"nat", "filter"} {
		if got, want := r.ipt.dump(table), fresh.ipt.dump(table); got != want {
			t.Errorf("%s: %s table after partial syncs differs from a full sync:\n%s", step, table, lineDiff(want, got))
		}
	}
}

func TestPartialSyncsEqualFullSync(t *testing.T) {
	r := &recorder{testProxier: newTestProxier(t), w: newWorld()}
	// Start from upstream's small cluster.
	overallCluster(r.testProxier)
	for k, v := range r.Proxier.services {
		r.w.services[k.String()] = v
	}
	for _, bySlice := range r.Proxier.slices {
		for _, s := range bySlice {
			r.w.slices[s.Namespace+"/"+s.Name] = s
		}
	}
	r.mustSync(t)
	r.checkSameAsFresh(t, "initial")

	steps := []struct {
		name string
		do   func()
		// changedServices is how many KUBE-SVC chain lines the partial
		// sync must write (written or deleted), -1 to skip the check.
		changedServices int
	}{
		{"nothing changed", func() {}, 0},
		{"add an endpoint", func() {
			r.slice(makeSlice("ns1", "svc1", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.1"}}, {Addresses: []string{"10.180.0.9"}, NodeName: ptr.To(testNodeName)}}
				s.Ports = tcpPort("p80", 80)
			}))
		}, 1},
		{"remove the last endpoint", func() {
			r.removeSlice(r.w.slices["ns3/svc3-1"])
		}, 1},
		{"delete a service", func() { r.removeService("ns4", "svc4") }, 1},
		{"switch to Cluster policy", func() {
			svc := r.w.services["ns2/svc2"].DeepCopy()
			svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
			r.service(svc)
		}, 1},
		{"add a UDP service", func() {
			r.service(makeService("ns7", "dns", func(svc *v1.Service) {
				svc.Spec.ClusterIP = "172.30.0.10"
				svc.Spec.Ports = []v1.ServicePort{{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}}
			}))
			r.slice(makeSlice("ns7", "dns", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.1.1"}}, {Addresses: []string{"10.180.1.2"}}}
				s.Ports = []discovery.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(v1.ProtocolUDP)}}
			}))
		}, 1},
		{"one endpoint terminating", func() {
			r.slice(makeSlice("ns1", "svc1", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{
					{Addresses: []string{"10.180.0.1"}},
					{Addresses: []string{"10.180.0.9"}, NodeName: ptr.To(testNodeName), Conditions: discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}},
				}
				s.Ports = tcpPort("p80", 80)
			}))
		}, 1},
		{"endpoints in two slices", func() {
			r.slice(makeSlice("ns1", "svc1", 2, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.7"}}}
				s.Ports = tcpPort("p80", 80)
			}))
		}, 1},
		{"session affinity on", func() {
			svc := r.w.services["ns1/svc1"].DeepCopy()
			svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			r.service(svc)
		}, 1},
		{"several changes at once", func() {
			r.removeService("ns7", "dns")
			r.removeSlice(r.w.slices["ns7/dns-1"])
			r.removeSlice(r.w.slices["ns1/svc1-2"])
			svc := r.w.services["ns6/svc6"].DeepCopy()
			svc.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
			r.service(svc)
		}, 2},
	}
	for _, step := range steps {
		ctBefore := r.ct.calls
		restoresBefore := len(r.ipt.restores)
		step.do()
		stats := r.mustSync(t)
		if stats.Full {
			t.Errorf("%s: sync was full, want partial", step.name)
		}
		if step.changedServices == 0 && len(r.ipt.restores) != restoresBefore && !strings.Contains(step.name, "remove") {
			t.Errorf("%s: restored %q although nothing changed", step.name, r.ipt.lastRestore())
		}
		if step.changedServices > 0 {
			if got := strings.Count(r.ipt.lastRestore(), ":KUBE-SVC-"); got != step.changedServices {
				t.Errorf("%s: partial sync wrote %d KUBE-SVC chains, want %d", step.name, got, step.changedServices)
			}
		}
		if strings.Contains(step.name, "UDP") && r.ct.calls == ctBefore {
			t.Errorf("%s: no conntrack cleanup after a UDP service change", step.name)
		}
		if !strings.Contains(step.name, "UDP") && step.name != "several changes at once" && r.ct.calls != ctBefore {
			t.Errorf("%s: conntrack cleanup without a UDP change", step.name)
		}
		r.checkSameAsFresh(t, step.name)
	}
}

func restoreLines(data, prefix string) []string {
	var out []string
	for _, l := range strings.Split(data, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestNoSyncBeforeInformersSynced(t *testing.T) {
	ipt := newFakeIPTables()
	tp := newTestProxier(t)
	tp.Proxier.mu.Lock()
	tp.servicesSynced = false
	tp.Proxier.mu.Unlock()
	tp.ipt = ipt
	tp.Proxier.ipt = ipt
	overallCluster(tp)
	if err := tp.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(ipt.restores) != 0 {
		t.Fatalf("rules written before the services were listed")
	}
	tp.OnServicesSynced()
	tp.mustSync(t)
	if len(ipt.restores) != 1 {
		t.Fatalf("%d restores, want 1", len(ipt.restores))
	}
}

func TestFailedRestoreForcesFullSync(t *testing.T) {
	tp := newTestProxier(t)
	overallCluster(tp)
	tp.mustSync(t)
	tp.ipt.failNext = errors.New("iptables-restore: line 3 failed")
	tp.OnEndpointSliceUpdate(makeSlice("ns1", "svc1", 1, func(s *discovery.EndpointSlice) {
		s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.8"}}}
		s.Ports = tcpPort("p80", 80)
	}), false)
	if err := tp.Sync(); err == nil {
		t.Fatal("sync succeeded although the restore failed")
	}
	stats := tp.mustSync(t)
	if !stats.Full {
		t.Fatal("the sync after a failure was not full")
	}
	if !strings.Contains(tp.ipt.dump("nat"), "--to-destination 10.180.0.8:80") {
		t.Errorf("the change lost in the failed sync was not applied")
	}
}

func TestLeftoverChainsDeletedOnFullSync(t *testing.T) {
	tp := newTestProxier(t)
	// Chains of a previous run: one still in use, one stale, and a
	// foreign chain that must be left alone.
	for _, c := range []string{"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-STALESTALESTALE1", "OTHER-CHAIN"} {
		if err := tp.ipt.EnsureChain("nat", c); err != nil {
			t.Fatal(err)
		}
	}
	overallCluster(tp)
	tp.mustSync(t)
	nat := tp.ipt.tables["nat"].chains
	if _, ok := nat["KUBE-SEP-STALESTALESTALE1"]; ok {
		t.Errorf("stale service chain survived the full sync")
	}
	if _, ok := nat["OTHER-CHAIN"]; !ok {
		t.Errorf("a chain that is not the proxy's was deleted")
	}
	if _, ok := nat["KUBE-SVC-XPGD46QRK7WJZT7O"]; !ok {
		t.Errorf("an active chain is missing")
	}
}

func TestCanaryTriggersFullSync(t *testing.T) {
	tp := newTestProxier(t)
	overallCluster(tp)
	tp.mustSync(t)
	if tp.CanaryMissing() {
		t.Fatal("canary missing after a full sync")
	}
	// Someone flushes the nat table.
	tp.ipt.tables["nat"] = &fakeTable{chains: map[string][]string{"PREROUTING": nil, "INPUT": nil, "OUTPUT": nil, "POSTROUTING": nil}}
	if !tp.CanaryMissing() {
		t.Fatal("canary not missed after a flush")
	}
	tp.ForceFullSync()
	stats := tp.mustSync(t)
	if !stats.Full {
		t.Fatal("sync after ForceFullSync was not full")
	}
	if len(tp.ipt.tables["nat"].chains["PREROUTING"]) != 1 || tp.CanaryMissing() {
		t.Errorf("jumps or canary not restored")
	}
}

// ruleFor returns the nat/filter rules mentioning text, from the tables.
func rulesWith(tp *testProxier, table, text string) []string {
	var out []string
	for _, l := range strings.Split(tp.ipt.dump(table), "\n") {
		if strings.Contains(l, text) && strings.HasPrefix(l, "-A ") {
			out = append(out, l)
		}
	}
	return out
}

func TestTrafficPolicies(t *testing.T) {
	local := ptr.To(testNodeName)
	notReadyTerminating := discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	gone := discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
	tests := []struct {
		name     string
		svc      func(*v1.Service)
		eps      []discovery.Endpoint
		nat      []string // substrings that must be in the nat table
		notNat   []string
		filter   []string
		noFilter []string
	}{{
		name:   "cluster policy balances over ready endpoints only",
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}, {Addresses: []string{"10.0.1.2"}}, {Addresses: []string{"10.0.1.3"}, Conditions: notReadyTerminating}},
		nat:    []string{"--probability 0.5000000000 -j KUBE-SEP-", "--to-destination 10.0.1.1:80", "--to-destination 10.0.1.2:80"},
		notNat: []string{"10.0.1.3"},
	}, {
		name: "terminating serving endpoints are used when none is ready",
		eps:  []discovery.Endpoint{{Addresses: []string{"10.0.1.3"}, Conditions: notReadyTerminating}, {Addresses: []string{"10.0.1.4"}, Conditions: gone}},
		nat:  []string{"--to-destination 10.0.1.3:80"}, notNat: []string{"10.0.1.4"},
		noFilter: []string{"REJECT"},
	}, {
		name:   "no serving endpoint rejects",
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.4"}, Conditions: gone}},
		notNat: []string{"KUBE-SVC-"},
		filter: []string{`"ns/web:http has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT`, `--dport 30080 -j REJECT`},
	}, {
		name:   "internal Local with no local endpoint drops the cluster IP",
		svc:    func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal) },
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}},
		filter: []string{`"ns/web:http has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP`},
		// NodePort traffic still uses the cluster policy.
		nat: []string{"KUBE-NODEPORTS -m comment --comment ns/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-"},
	}, {
		name:   "internal Local with a local endpoint uses KUBE-SVL",
		svc:    func(s *v1.Service) { s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal) },
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}, {Addresses: []string{"10.0.1.2"}, NodeName: local}},
		nat:    []string{`-d 172.30.1.1 --dport 80 -j KUBE-SVL-`, `-A KUBE-SVL-`},
		filter: nil, noFilter: []string{"DROP\n"},
	}, {
		name:   "external Local keeps the source for outside traffic",
		svc:    func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal },
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}, {Addresses: []string{"10.0.1.2"}, NodeName: local}},
		nat:    []string{`"pod traffic for ns/web:http external destinations" -s 10.0.0.0/8 -j KUBE-SVC-`, `"masquerade LOCAL traffic for ns/web:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`, `-j KUBE-SVL-`},
		notNat: []string{`"masquerade traffic for ns/web:http external destinations"`},
	}, {
		name:   "external Local falls back to local terminating endpoints",
		svc:    func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal },
		eps:    []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}, {Addresses: []string{"10.0.1.2"}, NodeName: local, Conditions: notReadyTerminating}},
		nat:    []string{"--to-destination 10.0.1.2:80", "--to-destination 10.0.1.1:80"},
		notNat: nil,
	}, {
		name: "client IP affinity",
		svc: func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](42)}}
		},
		eps: []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}, {Addresses: []string{"10.0.1.2"}}},
		nat: []string{"--rcheck --seconds 42 --reap -j KUBE-SEP-", "-m recent --name KUBE-SEP-"},
	}, {
		name: "hairpin masquerade",
		eps:  []discovery.Endpoint{{Addresses: []string{"10.0.1.1"}}},
		nat:  []string{"-s 10.0.1.1 -j KUBE-MARK-MASQ"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTestProxier(t)
			tp.addService(makeService("ns", "web", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.ClusterIP = "172.30.1.1"
				s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30080}}
				if tt.svc != nil {
					tt.svc(s)
				}
			}))
			tp.OnEndpointSliceUpdate(makeSlice("ns", "web", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = tt.eps
				s.Ports = tcpPort("http", 80)
			}), false)
			tp.mustSync(t)
			nat, filter := tp.ipt.dump("nat"), tp.ipt.dump("filter")
			for _, s := range tt.nat {
				if !strings.Contains(nat, s) {
					t.Errorf("nat lacks %q:\n%s", s, nat)
				}
			}
			for _, s := range tt.notNat {
				if strings.Contains(nat, s) {
					t.Errorf("nat has %q:\n%s", s, nat)
				}
			}
			for _, s := range tt.filter {
				if !strings.Contains(filter, s) {
					t.Errorf("filter lacks %q:\n%s", s, filter)
				}
			}
			for _, s := range tt.noFilter {
				if strings.Contains(filter, " -j "+strings.TrimSpace(s)+"\n") && strings.Contains(filter, "ns/web") {
					t.Errorf("filter has %q:\n%s", s, filter)
				}
			}
		})
	}
}

func TestLargeClusterDropsEndpointComments(t *testing.T) {
	tp := newTestProxier(t)
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("svc%d", i)
		tp.addService(makeService("ns", name, func(s *v1.Service) {
			s.Spec.ClusterIP = fmt.Sprintf("172.30.%d.%d", i/250, i%250+1)
			s.Spec.Ports = []v1.ServicePort{{Name: "p", Port: 80, Protocol: v1.ProtocolTCP}}
		}))
		tp.OnEndpointSliceUpdate(makeSlice("ns", name, 1, func(s *discovery.EndpointSlice) {
			for j := 0; j < 10; j++ {
				s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 1+i/250, i%250, j+1)}})
			}
			s.Ports = tcpPort("p", 80)
		}), false)
	}
	stats := tp.mustSync(t)
	if stats.Endpoints != 1200 {
		t.Fatalf("%d endpoints", stats.Endpoints)
	}
	if got := restoreLines(tp.ipt.lastRestore(), "-A KUBE-SEP-"); len(got) != 2400 || strings.Contains(got[0], "comment") {
		t.Errorf("%d SEP rules (want 2400), first %q", len(got), got[0])
	}
	// Cluster IP rules keep their comments.
	if got := restoreLines(tp.ipt.lastRestore(), "-A KUBE-SERVICES -m comment --comment \"ns/svc7:p cluster IP\""); len(got) != 1 {
		t.Errorf("cluster IP rule: %q", got)
	}
}

func TestNodePortAddressesAndLocalhost(t *testing.T) {
	tp := newTestProxier(t, func(c *Config) { c.LocalhostNodePorts = false })
	overallCluster(tp)
	tp.mustSync(t)
	want := `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`
	if !strings.Contains(tp.ipt.lastRestore(), want+"\n") {
		t.Errorf("missing %q", want)
	}
	if strings.Contains(tp.ipt.lastRestore(), "KUBE-FIREWALL") || tp.sc["net/ipv4/conf/all/route_localnet"] == "1" {
		t.Errorf("localhost NodePort machinery present although disabled")
	}
}

func TestOneEndpointChangeWritesOnlyItsChains(t *testing.T) {
	tp := newTestProxier(t)
	change := scaleCluster(tp.Proxier, 50, 4)
	tp.mustSync(t)
	change(7, 3, 1)
	stats := tp.mustSync(t)
	in := tp.ipt.lastRestore()
	if strings.Contains(in, "*filter") || strings.Contains(in, ":KUBE-SERVICES") || strings.Contains(in, ":KUBE-NODEPORTS") {
		t.Errorf("unchanged top-level chains rewritten:\n%s", in)
	}
	// The service's own chains (KUBE-SVC and its 4 KUBE-SEP, as
	// upstream rewrites a changed service whole) and the old endpoint's
	// chain, deleted.
	if got := restoreLines(in, ":"); len(got) != 6 {
		t.Errorf("chain lines %q, want 6", got)
	}
	if got := restoreLines(in, "-X "); len(got) != 1 {
		t.Errorf("deletions %q, want 1", got)
	}
	if stats.NATRulesWritten != 5+4*2 { // 1 masquerade + 4 endpoints in KUBE-SVC, 2 per KUBE-SEP
		t.Errorf("%d nat rules written, want 13", stats.NATRulesWritten)
	}
	// Losing the last endpoint changes KUBE-SERVICES (and the filter
	// table's REJECT), which are then rewritten.
	tp.OnEndpointSliceUpdate(makeSlice("bench", "svc9", 0, func(s *discovery.EndpointSlice) {}), false)
	tp.OnEndpointSliceUpdate(makeSlice("bench", "svc9", 0, func(s *discovery.EndpointSlice) {}), true)
	tp.Proxier.mu.Lock()
	delete(tp.Proxier.slices, types.NamespacedName{Namespace: "bench", Name: "svc9"})
	tp.Proxier.mu.Unlock()
	tp.mustSync(t)
	in = tp.ipt.lastRestore()
	if !strings.Contains(in, `"bench/svc9:http has no endpoints"`) || !strings.Contains(in, ":KUBE-SERVICES") {
		t.Errorf("losing all endpoints did not rewrite KUBE-SERVICES and the REJECT:\n%s", in)
	}
}
