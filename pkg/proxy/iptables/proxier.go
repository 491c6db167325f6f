// Package iptables is skiff's kube-proxy in iptables mode: it turns
// Services and EndpointSlices into nat and filter rules in upstream
// kube-proxy's chain layout (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, ...),
// applied with one iptables-restore per sync.
package iptables

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Config is the proxier's configuration for one IP family.
type Config struct {
	Family   v1.IPFamily
	NodeName string
	// NodeIP is the node's address of this family (may be nil).
	NodeIP net.IP
	// ClusterCIDR is the pod network of this family; traffic from it is
	// pod traffic. Empty disables the local-traffic detection.
	ClusterCIDR string
	// MasqueradeBit is the fwmark bit for SNAT (upstream: 14).
	MasqueradeBit int
	MasqueradeAll bool
	// LocalhostNodePorts serves NodePorts on 127.0.0.1 (sets
	// route_localnet=1).
	LocalhostNodePorts bool
	// NodePortAddresses limits NodePorts to the local addresses in these
	// CIDRs; empty means all local addresses.
	NodePortAddresses []string
	// MinSyncPeriod is the shortest time between two syncs (batching);
	// SyncPeriod the longest; FullSyncPeriod the longest between two full
	// rewrites of every chain.
	MinSyncPeriod, SyncPeriod, FullSyncPeriod time.Duration
}

// SyncStats describes one sync, for logs, tests and benchmarks.
type SyncStats struct {
	Full        bool
	Duration    time.Duration
	Services    int
	Endpoints   int
	FilterRules int
	// NATRulesWritten were sent to iptables-restore; NATRules is the total
	// in the nat table's proxy chains after it.
	NATRulesWritten, NATRules int
	BytesWritten              int
	Err                       error
}

// jump is a rule in a built-in chain that sends packets to a proxy chain.
type jump struct {
	table, from, to, comment string
	extra                    []string
}

// jumps are upstream's, inserted at the top of the built-in chains.
var jumps = []jump{
	{tableFilter, "INPUT", kubeExternalServicesChain, "kubernetes externally-visible service portals", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "FORWARD", kubeExternalServicesChain, "kubernetes externally-visible service portals", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "INPUT", kubeNodePortsChain, "kubernetes health check service ports", nil},
	{tableFilter, "FORWARD", kubeServicesChain, "kubernetes service portals", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "OUTPUT", kubeServicesChain, "kubernetes service portals", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "FORWARD", kubeForwardChain, "kubernetes forwarding rules", nil},
	{tableFilter, "INPUT", kubeProxyFirewallChain, "kubernetes load balancer firewall", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "OUTPUT", kubeProxyFirewallChain, "kubernetes load balancer firewall", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableFilter, "FORWARD", kubeProxyFirewallChain, "kubernetes load balancer firewall", []string{"-m", "conntrack", "--ctstate", "NEW"}},
	{tableNAT, "OUTPUT", kubeServicesChain, "kubernetes service portals", nil},
	{tableNAT, "PREROUTING", kubeServicesChain, "kubernetes service portals", nil},
	{tableNAT, "POSTROUTING", kubePostroutingChain, "kubernetes postrouting rules", nil},
}

// kubeletJumps duplicate the kubelet's; created, never cleaned up.
var kubeletJumps = []jump{
	{tableFilter, "INPUT", kubeletFirewallChain, "", nil},
	{tableFilter, "OUTPUT", kubeletFirewallChain, "", nil},
}

func (j jump) rule() []string {
	r := append([]string(nil), j.extra...)
	if j.comment != "" {
		r = append(r, "-m", "comment", "--comment", j.comment)
	}
	return append(r, "-j", j.to)
}

// Proxier keeps the iptables rules of one IP family in step with the
// Services and EndpointSlices it is told about.
type Proxier struct {
	cfg       Config
	ipt       Interface
	conntrack conntrackCleaner
	writer    *ruleWriter
	runner    *syncRunner
	clock     clock.WithTicker
	// fullSyncDone is set once a full sync succeeded (the canaries exist).
	fullSyncDone atomic.Bool

	// mu guards what the informer handlers write.
	mu                          sync.Mutex
	services                    map[types.NamespacedName]*v1.Service
	slices                      map[types.NamespacedName]endpointsBySlice
	dirty                       sets.Set[types.NamespacedName]
	servicesSynced, epsSynced   bool
	zone                        string
	forceFull                   bool
	lastStats                   SyncStats
	syncCount, fullSyncCount    int
	onSync                      func(SyncStats)
	serviceCount, endpointCount int

	// syncMu guards the sync's own state below. sortedPorts holds the
	// same servicePorts as ports, in rule order; it is rebuilt whenever a
	// service's ports change (portsChanged).
	syncMu       sync.Mutex
	ports        map[types.NamespacedName][]*servicePort
	endpoints    map[types.NamespacedName]map[ServicePortName][]*endpoint
	sortedPorts  []*servicePort
	portsChanged bool
	needFull     bool
	lastFull     time.Time
	lastLarge    bool
}

// New makes a proxier. It changes nothing on the host until the first
// sync, apart from route_localnet when LocalhostNodePorts is set.
func New(cfg Config, ipt Interface) (*Proxier, error) {
	return newProxier(cfg, ipt, newConntrack(cfg.Family), clock.RealClock{}, procSysctls{})
}

// sysctls reads and writes /proc/sys (faked in tests).
type sysctls interface {
	Get(name string) string
	Set(name, value string) error
}

type procSysctls struct{}

func (procSysctls) Get(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s procSysctls) Set(name, value string) error {
	if s.Get(name) == value {
		return nil
	}
	klog.InfoS("Setting sysctl", "name", name, "value", value)
	return os.WriteFile("/proc/sys/"+name, []byte(value), 0o644)
}

func newProxier(cfg Config, ipt Interface, ct conntrackCleaner, c clock.WithTicker, sc sysctls) (*Proxier, error) {
	if cfg.MasqueradeBit < 0 || cfg.MasqueradeBit > 31 {
		return nil, fmt.Errorf("masquerade bit %d is not in 0..31", cfg.MasqueradeBit)
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 30 * time.Second
	}
	if cfg.FullSyncPeriod <= 0 {
		cfg.FullSyncPeriod = time.Hour
	}
	if cfg.ClusterCIDR != "" {
		_, cidr, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR: %w", err)
		}
		if familyOf(cidr.IP) != cfg.Family {
			return nil, fmt.Errorf("cluster CIDR %s is not %s", cfg.ClusterCIDR, cfg.Family)
		}
		cfg.ClusterCIDR = cidr.String()
	}
	rc := ruleConfig{
		ipv6:                cfg.Family == v1.IPv6Protocol,
		masqueradeMark:      fmt.Sprintf("%#08x", 1<<uint(cfg.MasqueradeBit)),
		masqueradeAll:       cfg.MasqueradeAll,
		localCIDR:           cfg.ClusterCIDR,
		localhostNodePorts:  cfg.LocalhostNodePorts && cfg.Family == v1.IPv4Protocol,
		nodeIP:              cfg.NodeIP,
		conntrackTCPLiberal: sc.Get("net/netfilter/nf_conntrack_tcp_be_liberal") == "1",
	}
	if len(cfg.NodePortAddresses) > 0 {
		ips, err := localAddressesIn(cfg.NodePortAddresses, cfg.Family)
		if err != nil {
			return nil, err
		}
		rc.nodePortIPs = ips
		if rc.nodePortIPs == nil {
			rc.nodePortIPs = []string{}
		}
	}
	if rc.localhostNodePorts && rc.nodePortIPs != nil && !containsLoopback(rc.nodePortIPs) {
		rc.localhostNodePorts = false
	}
	if rc.localhostNodePorts {
		// NodePorts on 127.0.0.1 DNAT to a pod: the kernel routes such
		// packets only with route_localnet (upstream issue 90259; the
		// KUBE-FIREWALL rule closes the hole it opens).
		if err := sc.Set("net/ipv4/conf/all/route_localnet", "1"); err != nil {
			return nil, fmt.Errorf("enable route_localnet for NodePorts on localhost: %w", err)
		}
	}
	p := &Proxier{
		cfg:       cfg,
		ipt:       ipt,
		conntrack: ct,
		writer:    newRuleWriter(rc),
		clock:     c,
		services:  map[types.NamespacedName]*v1.Service{},
		slices:    map[types.NamespacedName]endpointsBySlice{},
		dirty:     sets.New[types.NamespacedName](),
		ports:     map[types.NamespacedName][]*servicePort{},
		endpoints: map[types.NamespacedName]map[ServicePortName][]*endpoint{},
		needFull:  true,
	}
	p.runner = newSyncRunner(p.sync, cfg.MinSyncPeriod, cfg.SyncPeriod, cfg.MinSyncPeriod+time.Second, c)
	return p, nil
}

func (p *Proxier) request() {
	p.mu.Lock()
	ready := p.servicesSynced && p.epsSynced
	p.mu.Unlock()
	if ready {
		p.runner.Run()
	}
}

// OnServiceUpdate records a new, changed or (svc == nil) deleted Service.
func (p *Proxier) OnServiceUpdate(key types.NamespacedName, svc *v1.Service) {
	p.mu.Lock()
	if svc == nil {
		delete(p.services, key)
	} else {
		p.services[key] = svc
	}
	p.dirty.Insert(key)
	p.mu.Unlock()
	p.request()
}

// OnEndpointSliceUpdate records a new, changed or deleted EndpointSlice.
func (p *Proxier) OnEndpointSliceUpdate(slice *discovery.EndpointSlice, deleted bool) {
	svcName := slice.Labels[discovery.LabelServiceName]
	if svcName == "" {
		return
	}
	key := types.NamespacedName{Namespace: slice.Namespace, Name: svcName}
	p.mu.Lock()
	bySlice := p.slices[key]
	if deleted {
		delete(bySlice, slice.Name)
		if len(bySlice) == 0 {
			delete(p.slices, key)
		}
	} else {
		if bySlice == nil {
			bySlice = endpointsBySlice{}
			p.slices[key] = bySlice
		}
		bySlice[slice.Name] = slice
	}
	p.dirty.Insert(key)
	p.mu.Unlock()
	p.request()
}

// OnServicesSynced and OnEndpointSlicesSynced are called once the
// informers have delivered their initial lists; no rules are written
// before both, so a restart never programs half a cluster.
func (p *Proxier) OnServicesSynced() {
	p.mu.Lock()
	p.servicesSynced = true
	p.mu.Unlock()
	p.request()
}

func (p *Proxier) OnEndpointSlicesSynced() {
	p.mu.Lock()
	p.epsSynced = true
	p.mu.Unlock()
	p.request()
}

// OnNodeZone records this node's topology zone (for topology hints).
func (p *Proxier) OnNodeZone(zone string) {
	p.mu.Lock()
	changed := p.zone != zone
	p.zone = zone
	if changed {
		p.forceFull = true
	}
	p.mu.Unlock()
	if changed {
		p.request()
	}
}

// ForceFullSync rewrites every chain and re-checks the jumps at the next
// sync (the tables were flushed, or the topology changed).
func (p *Proxier) ForceFullSync() {
	p.mu.Lock()
	p.forceFull = true
	p.mu.Unlock()
	p.runner.Run()
}

// SetSyncObserver registers a function called after each sync.
func (p *Proxier) SetSyncObserver(fn func(SyncStats)) {
	p.mu.Lock()
	p.onSync = fn
	p.mu.Unlock()
}

// LastSync returns the stats of the last sync.
func (p *Proxier) LastSync() SyncStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastStats
}

// Sync synchronizes the rules now (outside the batching loop); for tests,
// benchmarks and --cleanup-less one-shot runs.
func (p *Proxier) Sync() error { return p.sync() }

// sync computes what changed since the last sync and writes it.
func (p *Proxier) sync() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := p.clock.Now()

	p.mu.Lock()
	if !p.servicesSynced || !p.epsSynced {
		p.mu.Unlock()
		klog.V(2).InfoS("Not syncing iptables until Services and EndpointSlices have been received")
		return nil
	}
	full := p.needFull || p.forceFull || p.clock.Since(p.lastFull) > p.cfg.FullSyncPeriod
	p.forceFull = false
	names := p.dirty
	p.dirty = sets.New[types.NamespacedName]()
	if full {
		for k := range p.services {
			names.Insert(k)
		}
		for k := range p.slices {
			names.Insert(k)
		}
		for k := range p.ports {
			names.Insert(k)
		}
	}
	services := make(map[types.NamespacedName]*v1.Service, len(names))
	slices := make(map[types.NamespacedName]endpointsBySlice, len(names))
	for k := range names {
		services[k] = p.services[k]
		if s := p.slices[k]; s != nil {
			copied := make(endpointsBySlice, len(s))
			for n, v := range s {
				copied[n] = v
			}
			slices[k] = copied
		}
	}
	zone := p.zone
	p.mu.Unlock()

	changed := sets.New[types.NamespacedName]()
	udpChanged := false
	for k := range names {
		ports := servicePortsFor(services[k], p.cfg.Family)
		var eps map[ServicePortName][]*endpoint
		if len(ports) > 0 {
			eps = endpointsFor(k, slices[k], p.cfg.Family, p.cfg.NodeName)
		}
		oldPorts, oldEps := p.ports[k], p.endpoints[k]
		samePorts := servicePortsEqual(oldPorts, ports)
		if samePorts && endpointMapsEqual(oldEps, eps) {
			continue
		}
		changed.Insert(k)
		if hasUDP(oldPorts) || hasUDP(ports) {
			udpChanged = true
		}
		if !samePorts {
			p.portsChanged = true
		}
		if len(ports) == 0 {
			delete(p.ports, k)
			delete(p.endpoints, k)
		} else {
			p.ports[k] = ports
			p.endpoints[k] = eps
		}
	}
	if p.portsChanged || p.sortedPorts == nil {
		p.sortedPorts = p.sortedPorts[:0]
		for _, ports := range p.ports {
			p.sortedPorts = append(p.sortedPorts, ports...)
		}
		sort.Slice(p.sortedPorts, func(i, j int) bool {
			a, b := p.sortedPorts[i], p.sortedPorts[j]
			if a.nameString != b.nameString {
				return a.nameString < b.nameString
			}
			return a.protocol < b.protocol
		})
		p.portsChanged = false
	}
	allEndpoints := make(map[ServicePortName][]*endpoint, len(p.sortedPorts))
	for _, m := range p.endpoints {
		for spn, eps := range m {
			allEndpoints[spn] = eps
		}
	}

	stats := SyncStats{Full: full}
	err := p.apply(full, changed, allEndpoints, zone, &stats)
	if err == nil && udpChanged {
		if n, cerr := p.conntrack.CleanStaleUDP(p.sortedPorts, allEndpoints); cerr != nil {
			klog.ErrorS(cerr, "Failed to clean stale UDP conntrack entries")
		} else if n > 0 {
			klog.V(2).InfoS("Deleted stale UDP conntrack entries", "entries", n)
		}
	}
	stats.Duration = p.clock.Since(start)
	stats.Err = err
	if err != nil {
		// The changes are consumed: only a full sync can catch up.
		p.needFull = true
		klog.ErrorS(err, "Failed to sync iptables rules", "full", full)
	} else {
		p.needFull = false
		if full {
			p.lastFull = start
			p.fullSyncDone.Store(true)
		}
		klog.V(2).InfoS("Synced iptables rules", "full", full, "elapsed", stats.Duration, "services", stats.Services,
			"endpoints", stats.Endpoints, "natRulesWritten", stats.NATRulesWritten, "natRules", stats.NATRules, "filterRules", stats.FilterRules)
	}
	p.mu.Lock()
	p.lastStats = stats
	p.syncCount++
	if full {
		p.fullSyncCount++
	}
	onSync := p.onSync
	p.mu.Unlock()
	if onSync != nil {
		onSync(stats)
	}
	return err
}

// apply writes the rules: jumps and canaries first on a full sync, then
// one iptables-restore.
func (p *Proxier) apply(full bool, changed sets.Set[types.NamespacedName], eps map[ServicePortName][]*endpoint, zone string, stats *SyncStats) error {
	in := ruleInput{
		ports:     p.sortedPorts,
		endpoints: eps,
		nodeName:  p.cfg.NodeName,
		zone:      zone,
		changed:   changed,
	}
	if full {
		if err := p.ensureJumps(); err != nil {
			return err
		}
		existing, err := p.ipt.ListChains(tableNAT)
		if err != nil {
			return fmt.Errorf("list nat chains: %w", err)
		}
		in.changed, in.existingChains = nil, existing
	}
	out := p.writer.generate(in)
	stats.Services, stats.Endpoints = out.services, out.endpoints
	stats.FilterRules, stats.NATRulesWritten, stats.NATRules = out.filterRules, out.natRulesWritten, out.natRulesTotal
	stats.BytesWritten = len(out.data)
	if len(out.data) > 0 { // nothing changed: nothing to write
		if err := p.ipt.Restore(out.data); err != nil {
			return err
		}
	}
	if !full && out.largeCluster != p.lastLarge {
		// Comments come and go with the cluster size; rewrite everything
		// once so that all chains look alike.
		p.mu.Lock()
		p.forceFull = true
		p.mu.Unlock()
		p.runner.Run()
	}
	p.lastLarge = out.largeCluster
	return nil
}

// ensureJumps creates the top-level chains and the jumps to them from the
// built-in chains, and the canary chains whose disappearance tells that
// someone flushed the tables.
func (p *Proxier) ensureJumps() error {
	for _, j := range append(append([]jump(nil), jumps...), kubeletJumps...) {
		if err := p.ipt.EnsureChain(j.table, j.to); err != nil {
			return err
		}
		if err := p.ipt.EnsureRuleFirst(j.table, j.from, j.rule()...); err != nil {
			return err
		}
	}
	for _, t := range []string{"mangle", tableNAT, tableFilter} {
		if err := p.ipt.EnsureChain(t, kubeProxyCanaryChain); err != nil {
			return err
		}
	}
	return nil
}

// CanaryMissing reports whether the canary chain vanished from a table,
// i.e. the tables were flushed behind the proxy's back.
func (p *Proxier) CanaryMissing() bool {
	for _, t := range []string{tableNAT, tableFilter} {
		ok, err := p.ipt.ChainExists(t, kubeProxyCanaryChain)
		if err == nil && !ok {
			return true
		}
	}
	return false
}

func hasUDP(ports []*servicePort) bool {
	for _, sp := range ports {
		if sp.name.Protocol == v1.ProtocolUDP {
			return true
		}
	}
	return false
}

func servicePortsEqual(a, b []*servicePort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

func endpointMapsEqual(a, b map[ServicePortName][]*endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !x[i].equal(y[i]) {
				return false
			}
		}
	}
	return true
}

// localAddressesIn returns this host's addresses of the family that fall
// in one of the CIDRs.
func localAddressesIn(cidrs []string, family v1.IPFamily) ([]string, error) {
	var nets []*net.IPNet
	for _, s := range cidrs {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("nodeport address %q: %w", s, err)
		}
		if familyOf(n.IP) == family {
			nets = append(nets, n)
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list local addresses: %w", err)
	}
	var out []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		for _, n := range nets {
			if n.Contains(ipn.IP) {
				out = append(out, ipn.IP.String())
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func containsLoopback(ips []string) bool {
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	return false
}

// Run syncs (batched) until ctx ends, and every SyncPeriod checks that
// the tables were not flushed under it.
func (p *Proxier) Run(ctx context.Context) {
	go func() {
		t := p.clock.NewTicker(p.cfg.SyncPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				if p.fullSyncDone.Load() && p.CanaryMissing() {
					klog.InfoS("iptables canary chain is gone (tables flushed?); rewriting all rules")
					p.ForceFullSync()
				}
			}
		}
	}()
	p.runner.Loop(ctx)
}
