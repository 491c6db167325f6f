package iptables

import (
	"fmt"
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

// scaleBench is the proxier of BenchmarkSyncScale1000x10, set up once
// (a full sync takes seconds) for the calls with growing b.N.
var scaleBench struct {
	p      *Proxier
	change func(i, j, gen int)
	gen    int
	// full is the first sync (empty tables), resync a full sync over the
	// rules in place (every FullSyncPeriod, and after errors).
	full, resync time.Duration
	rules        int
	written      int
}

// BenchmarkSyncScale1000x10 applies 1,000 Services with 10 endpoints each
// (two of them NodePorts) with the real iptables-nft-restore in a network
// namespace it creates (never the host's tables), then changes one
// endpoint per iteration: ns/op is the one-endpoint-change sync. It
// reports the full-sync and full-resync times and the rule count in the
// tables:
//
//	go test -run '^$' -bench SyncScale -benchtime 20x ./pkg/proxy/iptables/
func BenchmarkSyncScale1000x10(b *testing.B) {
	const services, endpoints = 1000, 10
	node := netnstest.Enter(b)
	if node == nil {
		return
	}
	sb := &scaleBench
	if sb.p == nil {
		ipt, err := NewRunner(v1.IPv4Protocol)
		if err != nil {
			b.Fatal(err)
		}
		p, err := newProxier(Config{
			Family: v1.IPv4Protocol, NodeName: "node-x", ClusterCIDR: "10.128.0.0/9",
			MasqueradeBit: 14, LocalhostNodePorts: true, SyncPeriod: time.Minute,
		}, ipt, newConntrack(v1.IPv4Protocol), clock.RealClock{}, procSysctls{})
		if err != nil {
			b.Fatal(err)
		}
		p.OnServicesSynced()
		p.OnEndpointSlicesSynced()
		sb.change = scaleCluster(p, services, endpoints)
		start := time.Now()
		if err := p.Sync(); err != nil {
			b.Fatal(err)
		}
		sb.full = time.Since(start)
		sb.written = p.LastSync().BytesWritten
		sb.rules = strings.Count(node.Run("iptables-nft-save"), "\n-A ")
		p.ForceFullSync()
		start = time.Now()
		if err := p.Sync(); err != nil {
			b.Fatal(err)
		}
		sb.resync = time.Since(start)
		if !p.LastSync().Full {
			b.Fatal("the forced sync was not a full sync")
		}
		sb.p = p
		b.Logf("%d services x %d endpoints: full sync %v (%d bytes to iptables-restore), full resync %v, %d rules in the tables",
			services, endpoints, sb.full.Round(time.Millisecond), sb.written, sb.resync.Round(time.Millisecond), sb.rules)
	}
	partial := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sb.gen++
		sb.change(sb.gen*7%services, endpoints-1, sb.gen)
		start := time.Now()
		if err := sb.p.Sync(); err != nil {
			b.Fatal(err)
		}
		partial = append(partial, time.Since(start))
		if st := sb.p.LastSync(); st.Full || st.NATRulesWritten == 0 {
			b.Fatalf("one-endpoint change: full=%v, %d nat rules written; want a partial sync", st.Full, st.NATRulesWritten)
		}
	}
	b.StopTimer()
	sort.Slice(partial, func(i, j int) bool { return partial[i] < partial[j] })
	b.ReportMetric(sb.full.Seconds(), "full-sync-s")
	b.ReportMetric(sb.resync.Seconds(), "full-resync-s")
	b.ReportMetric(float64(sb.rules), "rules")
	b.ReportMetric(float64(partial[len(partial)/2].Microseconds())/1000, "change-p50-ms")
	b.ReportMetric(float64(partial[len(partial)-1].Microseconds())/1000, "change-max-ms")
	b.Logf("one-endpoint change, %d syncs: p50 %v, max %v (%d nat rules rewritten each)", b.N,
		partial[len(partial)/2].Round(time.Millisecond), partial[len(partial)-1].Round(time.Millisecond), sb.p.LastSync().NATRulesWritten)
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
