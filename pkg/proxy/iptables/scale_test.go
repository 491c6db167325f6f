package iptables

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/proxy/internal/netnstest"
)

// scaleCluster gives the proxier n services with m endpoints each (two
// of them NodePorts), and returns a function that replaces endpoint j of
// service i.
func scaleCluster(p *Proxier, n, m int) func(i, j, gen int) {
	sliceFor := func(i int, last string) *discovery.EndpointSlice {
		s := &discovery.EndpointSlice{AddressType: discovery.AddressTypeIPv4, Ports: tcpPort("http", 8080)}
		s.Namespace, s.Name = "bench", fmt.Sprintf("svc%d-abcde", i)
		s.Labels = map[string]string{discovery.LabelServiceName: fmt.Sprintf("svc%d", i)}
		for j := 0; j < m; j++ {
			ip := fmt.Sprintf("10.%d.%d.%d", 128+i/250, i%250, j+1)
			if j == m-1 && last != "" {
				ip = last
			}
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("node-x")})
		}
		return s
	}
	for i := 0; i < n; i++ {
		svc := makeService("bench", fmt.Sprintf("svc%d", i), func(s *v1.Service) {
			ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
			s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip}
			s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}
			if i%500 == 0 {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = int32(20000 + i)
			}
		})
		p.OnServiceUpdate(types.NamespacedName{Namespace: "bench", Name: svc.Name}, svc)
		p.OnEndpointSliceUpdate(sliceFor(i, ""), false)
	}
	return func(i, _, gen int) {
		p.OnEndpointSliceUpdate(sliceFor(i, fmt.Sprintf("10.127.%d.%d", gen/250, gen%250+1)), false)
	}
}

// BenchmarkGenerateRules1000x10 measures rule generation alone (no
// iptables) for 1,000 services with 10 endpoints each.
func BenchmarkGenerateRules1000x10(b *testing.B) {
	tp := newTestProxier(b)
	tp.ipt.discardRestores = true
	scaleCluster(tp.Proxier, 1000, 10)
	tp.mustSync(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tp.ForceFullSync()
		tp.mustSync(b)
	}
}

// TestSyncScale applies 1,000 services x 10 endpoints with the real
// iptables-nft in a network namespace and prints the full-sync and the
// one-endpoint-change sync times and the rule count. It runs when
// SKIFF_PROXY_BENCH=1 (about 10 s).
func TestSyncScale(t *testing.T) {
	if os.Getenv("SKIFF_PROXY_BENCH") == "" {
		t.Skip("set SKIFF_PROXY_BENCH=1 to run the sync benchmark")
	}
	node := netnstest.Enter(t)
	if node == nil {
		return
	}
	report := func(name string, services, endpoints int, changes int) {
		ipt, err := NewRunner(v1.IPv4Protocol)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newProxier(Config{
			Family: v1.IPv4Protocol, NodeName: "node-x", ClusterCIDR: "10.128.0.0/9",
			MasqueradeBit: 14, LocalhostNodePorts: true, SyncPeriod: time.Minute,
		}, ipt, newConntrack(v1.IPv4Protocol), clock.RealClock{}, procSysctls{})
		if err != nil {
			t.Fatal(err)
		}
		p.OnServicesSynced()
		p.OnEndpointSlicesSynced()
		change := scaleCluster(p, services, endpoints)
		start := time.Now()
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		full := time.Since(start)
		fullStats := p.LastSync()
		rules := strings.Count(node.Run("iptables-nft-save"), "\n-A ")
		var partial []time.Duration
		var written int
		for k := 0; k < changes; k++ {
			change(k*7%services, endpoints-1, k)
			start := time.Now()
			if err := p.Sync(); err != nil {
				t.Fatal(err)
			}
			partial = append(partial, time.Since(start))
			written = p.LastSync().NATRulesWritten
		}
		sort.Slice(partial, func(i, j int) bool { return partial[i] < partial[j] })
		var sum time.Duration
		for _, d := range partial {
			sum += d
		}
		t.Logf("%s: %d services x %d endpoints: full sync %v (%d bytes to iptables-restore), %d rules in the tables",
			name, services, endpoints, full.Round(time.Millisecond), fullStats.BytesWritten, rules)
		t.Logf("%s: one-endpoint change, %d syncs: avg %v, p50 %v, max %v (%d nat rules rewritten each)",
			name, changes, (sum / time.Duration(len(partial))).Round(time.Millisecond), partial[len(partial)/2].Round(time.Millisecond),
			partial[len(partial)-1].Round(time.Millisecond), written)
		if err := Cleanup(ipt); err != nil {
			t.Fatal(err)
		}
		if out, _ := exec.Command("iptables-nft-save").Output(); strings.Contains(string(out), "KUBE-") {
			t.Fatalf("rules left after cleanup")
		}
	}
	report("small", 10, 3, 20)
	report("large", 1000, 10, 20)
}

// BenchmarkPartialSync1000x10 measures a one-endpoint-change sync
// without iptables (rule generation and bookkeeping only).
func BenchmarkPartialSync1000x10(b *testing.B) {
	tp := newTestProxier(b)
	tp.ipt.discardRestores = true
	change := scaleCluster(tp.Proxier, 1000, 10)
	tp.mustSync(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		change(i%1000, 9, i)
		tp.mustSync(b)
	}
}
