package iptables

import (
	"bytes"
	"fmt"
	"net"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// largeClusterEndpoints is the number of endpoints above which rules drop
// their per-endpoint comments: iptables-restore input shrinks by almost
// half, which matters more than readability at that size (upstream's
// threshold).
const largeClusterEndpoints = 1000

// ruleConfig is what the rules depend on besides services and endpoints.
type ruleConfig struct {
	ipv6 bool
	// masqueradeMark is the fwmark bit ("0x004000") that KUBE-MARK-MASQ
	// sets and KUBE-POSTROUTING masquerades.
	masqueradeMark string
	// masqueradeAll SNATs all traffic to cluster IPs.
	masqueradeAll bool
	// localCIDR is the pod network: traffic from it is "local" (from a
	// pod); other traffic to a cluster IP is masqueraded. Empty turns the
	// local-traffic detection off.
	localCIDR string
	// localhostNodePorts exposes NodePorts on 127.0.0.1 (IPv4 only; needs
	// route_localnet=1).
	localhostNodePorts bool
	// nodePortIPs restricts NodePorts to these addresses; nil means every
	// local address.
	nodePortIPs []string
	// nodeIP lets this node through a loadBalancerSourceRanges firewall
	// when a range contains it.
	nodeIP net.IP
	// conntrackTCPLiberal is set when nf_conntrack_tcp_be_liberal is on;
	// then INVALID packets need not be dropped.
	conntrackTCPLiberal bool
}

// lineBuffer collects iptables-restore lines.
type lineBuffer struct {
	buf   bytes.Buffer
	lines int
}

func (l *lineBuffer) reset() { l.buf.Reset(); l.lines = 0 }

// write writes one line made of the words of each part; a part is a
// string or a []string.
func (l *lineBuffer) write(parts ...any) {
	l.lines++
	first := true
	word := func(s string) {
		if !first {
			l.buf.WriteByte(' ')
		}
		first = false
		l.buf.WriteString(s)
	}
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			word(v)
		case []string:
			for _, s := range v {
				word(s)
			}
		default:
			panic(fmt.Sprintf("lineBuffer: unexpected %T", p))
		}
	}
	l.buf.WriteByte('\n')
}

func chainLine(chain string) string { return ":" + chain + " - [0:0]" }

// natTopChains are the nat chains every sync computes in full.
var natTopChains = []string{kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain}

// ruleWriter turns services and endpoints into one iptables-restore input
// for the filter and nat tables. The buffers are reused between syncs.
type ruleWriter struct {
	cfg ruleConfig

	filterChains, filterRules lineBuffer
	// topRules are the rules of the nat chains that are not a service's
	// own (natTopChains); natChains and natRules are the services' own
	// chains and rules, and the deletions.
	topRules            map[string]*lineBuffer
	natChains, natRules lineBuffer
	out                 bytes.Buffer
	// lastFilter and lastTop are what the last sync wrote, so that a
	// partial sync leaves out what has not changed: for a one-endpoint
	// change, only that service's chains go to iptables-restore.
	lastFilter []byte
	lastTop    map[string][]byte

	largeCluster  bool
	probabilities []string

	// written remembers, per service, what its own chains were when last
	// written: a partial sync reuses it for the services it does not
	// rewrite, and compares it to find the chains to delete.
	written map[types.NamespacedName]map[ServicePortName]*portState
}

// portState is a service port's endpoint categorization and its own nat
// chains (SVC, SVL, EXT, FW, SEP) with their rule count, as last written.
type portState struct {
	cluster, local, reachable []*endpoint
	hasEndpoints              bool
	chains                    []string
	rules                     int
}

// ruleInput is one sync's view of the world.
type ruleInput struct {
	// ports are the service ports, in a stable order.
	ports     []*servicePort
	endpoints map[ServicePortName][]*endpoint
	nodeName  string
	zone      string
	// changed are the services whose own chains (SVC, SVL, EXT, FW, SEP)
	// are rewritten in a partial sync (deleted ones included); the other
	// services' chains stay as they are in the kernel. nil means a full
	// sync: everything is written.
	changed sets.Set[types.NamespacedName]
	// existingChains are the nat chains found in the kernel (full sync
	// only); the service chains among them that are no longer used are
	// deleted.
	existingChains []string
}

// ruleOutput is the result of a generation.
type ruleOutput struct {
	data []byte
	// deletedChains are the nat chains the input deletes.
	deletedChains int
	// Rule counts: the ones written, and the total in the tables once the
	// input is applied.
	filterRules, filterWritten, natRulesWritten, natRulesTotal int
	services, endpoints                                        int
	largeCluster                                               bool
}

func newRuleWriter(cfg ruleConfig) *ruleWriter {
	w := &ruleWriter{
		cfg:      cfg,
		written:  map[types.NamespacedName]map[ServicePortName]*portState{},
		topRules: map[string]*lineBuffer{},
		lastTop:  map[string][]byte{},
	}
	for _, c := range natTopChains {
		w.topRules[c] = &lineBuffer{}
	}
	return w
}

// probability is the statistic match value that gives each of n
// remaining endpoints an equal share: 1/n, with upstream's precision.
func (w *ruleWriter) probability(n int) string {
	for len(w.probabilities) <= n {
		k := len(w.probabilities)
		if k == 0 {
			w.probabilities = append(w.probabilities, "")
			continue
		}
		w.probabilities = append(w.probabilities, fmt.Sprintf("%0.10f", 1.0/float64(k)))
	}
	return w.probabilities[n]
}

func (w *ruleWriter) ifLocal() []string    { return []string{"-s", w.cfg.localCIDR} }
func (w *ruleWriter) ifNotLocal() []string { return []string{"!", "-s", w.cfg.localCIDR} }

// comment returns the comment match, or nothing for per-endpoint rules in
// a large cluster.
func (w *ruleWriter) endpointComment(text string) []string {
	if w.largeCluster {
		return nil
	}
	return []string{"-m", "comment", "--comment", text}
}

func quote(s string) string { return `"` + s + `"` }

// generate writes the rules for in. The comments and the order of the
// matches are upstream's, so that iptables-save looks the same.
func (w *ruleWriter) generate(in ruleInput) ruleOutput {
	w.filterChains.reset()
	w.filterRules.reset()
	w.natChains.reset()
	w.natRules.reset()

	mark := w.cfg.masqueradeMark
	for _, c := range []string{kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain} {
		w.filterChains.write(chainLine(c))
	}
	for _, c := range natTopChains {
		w.topRules[c].reset()
	}

	// Masquerade what KUBE-MARK-MASQ marked, clearing the mark so that a
	// packet that traverses the stack again is not masqueraded twice.
	w.topRules[kubePostroutingChain].write("-A", kubePostroutingChain, "-m", "mark", "!", "--mark", mark+"/"+mark, "-j", "RETURN")
	w.topRules[kubePostroutingChain].write("-A", kubePostroutingChain, "-j", "MARK", "--xor-mark", mark)
	w.topRules[kubePostroutingChain].write("-A", kubePostroutingChain, "-m", "comment", "--comment", quote("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE", "--random-fully")
	w.topRules[kubeMarkMasqChain].write("-A", kubeMarkMasqChain, "-j", "MARK", "--or-mark", mark)

	if !w.cfg.ipv6 && w.cfg.localhostNodePorts {
		// route_localnet (needed for NodePorts on 127.0.0.1) would let
		// other hosts reach services bound to loopback; drop what comes
		// to 127.0.0.0/8 from elsewhere unless it was DNATed there.
		w.filterChains.write(chainLine(kubeletFirewallChain))
		w.filterRules.write("-A", kubeletFirewallChain, "-m", "comment", "--comment", quote("block incoming localnet connections"),
			"-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")
	}

	total := 0
	for _, sp := range in.ports {
		total += len(in.endpoints[sp.name])
	}
	w.largeCluster = total > largeClusterEndpoints

	// The chains the changed services had; those they no longer have are
	// deleted below.
	full := in.changed == nil
	previous := sets.New[string]()
	if full {
		w.written = map[types.NamespacedName]map[ServicePortName]*portState{}
	} else {
		for svc := range in.changed {
			for _, st := range w.written[svc] {
				previous.Insert(st.chains...)
			}
			delete(w.written, svc)
		}
	}
	keptRules := 0

	var args []string
	for _, sp := range in.ports {
		name := sp.nameString
		proto := sp.protocol
		port := strconv.Itoa(sp.port)
		svcKey := sp.name.NamespacedName
		rewrite := full || in.changed.Has(svcKey)
		st := w.written[svcKey][sp.name]
		if rewrite || st == nil {
			rewrite = true
			st = &portState{}
			st.cluster, st.local, st.reachable, st.hasEndpoints = categorizeEndpoints(in.endpoints[sp.name], sp, in.nodeName, in.zone)
			byPort := w.written[svcKey]
			if byPort == nil {
				byPort = map[ServicePortName]*portState{}
				w.written[svcKey] = byPort
			}
			byPort[sp.name] = st
		} else {
			keptRules += st.rules
		}
		clusterEPs, localEPs, reachable, hasEndpoints := st.cluster, st.local, st.reachable, st.hasEndpoints

		clusterChain, localChain := sp.chains.cluster, sp.chains.local
		usesClusterChain := len(clusterEPs) > 0 && sp.usesClusterEndpoints()
		usesLocalChain := len(localEPs) > 0 && sp.usesLocalEndpoints()

		internalChain, hasInternal := clusterChain, hasEndpoints
		if sp.internalPolicyLocal {
			internalChain = localChain
			hasInternal = len(localEPs) > 0
		}
		externalPolicyChain, hasExternal := clusterChain, hasEndpoints
		if sp.externalPolicyLocal {
			externalPolicyChain = localChain
			hasExternal = len(localEPs) > 0
		}
		externalChain := sp.chains.external
		// The EXT chain is needed whenever there are endpoints at all:
		// it also short-circuits traffic from this node and its pods.
		usesExternalChain := hasEndpoints && sp.externallyAccessible()

		lbChain := externalChain
		usesFirewallChain := hasEndpoints && len(sp.loadBalancerVIPs) > 0 && len(sp.sourceRanges) > 0
		if usesFirewallChain {
			lbChain = sp.chains.firewall
		}

		// Without any endpoint the service is rejected (the client gets
		// "connection refused" at once); with endpoints but none for a
		// Local policy, that traffic is dropped.
		var internalFilterTarget, internalFilterComment, externalFilterTarget, externalFilterComment string
		if !hasEndpoints {
			internalFilterTarget, externalFilterTarget = "REJECT", "REJECT"
			internalFilterComment = quote(name + " has no endpoints")
			externalFilterComment = internalFilterComment
		} else {
			if !hasInternal {
				internalFilterTarget, internalFilterComment = "DROP", quote(name+" has no local endpoints")
			}
			if !hasExternal {
				externalFilterTarget, externalFilterComment = "DROP", quote(name+" has no local endpoints")
			}
		}

		// Capture the cluster IP.
		if hasInternal {
			w.topRules[kubeServicesChain].write("-A", kubeServicesChain, "-m", "comment", "--comment", quote(name+" cluster IP"),
				"-m", proto, "-p", proto, "-d", sp.clusterIP, "--dport", port, "-j", internalChain)
		} else {
			w.filterRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", internalFilterComment,
				"-m", proto, "-p", proto, "-d", sp.clusterIP, "--dport", port, "-j", internalFilterTarget)
		}

		// Capture external IPs.
		for _, ip := range sp.externalIPs {
			if hasEndpoints {
				w.topRules[kubeServicesChain].write("-A", kubeServicesChain, "-m", "comment", "--comment", quote(name+" external IP"),
					"-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", externalChain)
			}
			if !hasExternal {
				w.filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", externalFilterTarget)
			}
		}

		// Capture load-balancer ingress IPs.
		for _, ip := range sp.loadBalancerVIPs {
			if hasEndpoints {
				w.topRules[kubeServicesChain].write("-A", kubeServicesChain, "-m", "comment", "--comment", quote(name+" loadbalancer IP"),
					"-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", lbChain)
			}
			if usesFirewallChain {
				w.filterRules.write("-A", kubeProxyFirewallChain, "-m", "comment", "--comment", quote(name+" traffic not accepted by "+sp.chains.firewall),
					"-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", "DROP")
			}
		}
		if !hasExternal {
			for _, ip := range sp.loadBalancerVIPs {
				w.filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", externalFilterTarget)
			}
		}

		// Capture the NodePort.
		if sp.nodePort != 0 {
			nodePort := strconv.Itoa(sp.nodePort)
			if hasEndpoints {
				w.topRules[kubeNodePortsChain].write("-A", kubeNodePortsChain, "-m", "comment", "--comment", name,
					"-m", proto, "-p", proto, "--dport", nodePort, "-j", externalChain)
			}
			if !hasExternal {
				w.filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", "addrtype", "--dst-type", "LOCAL", "-m", proto, "-p", proto, "--dport", nodePort, "-j", externalFilterTarget)
			}
		}

		// Let the health check of an externalTrafficPolicy=Local service in.
		if sp.healthCheckNodePort != 0 {
			w.filterRules.write("-A", kubeNodePortsChain, "-m", "comment", "--comment", quote(name+" health check node port"),
				"-m", "tcp", "-p", "tcp", "--dport", strconv.Itoa(sp.healthCheckNodePort), "-j", "ACCEPT")
		}

		// The service's own chains: written only when it changed (or in
		// a full sync); otherwise they stay as they are in the kernel.
		if !rewrite {
			continue
		}
		natChains, natRules := &w.natChains, &w.natRules
		rulesBefore := natRules.lines
		addChain := func(chain string) {
			natChains.write(chainLine(chain))
			st.chains = append(st.chains, chain)
		}

		if hasInternal {
			args = append(args[:0], "-m", "comment", "--comment", quote(name+" cluster IP"),
				"-m", proto, "-p", proto, "-d", sp.clusterIP, "--dport", port)
			if w.cfg.masqueradeAll {
				natRules.write("-A", internalChain, args, "-j", kubeMarkMasqChain)
			} else if w.cfg.localCIDR != "" {
				// Off-cluster traffic to a cluster IP (a route to the
				// service range via this node) is masqueraded, since
				// the endpoint may be on another node.
				natRules.write("-A", internalChain, args, w.ifNotLocal(), "-j", kubeMarkMasqChain)
			}
		}

		if usesExternalChain {
			addChain(externalChain)
			if !sp.externalPolicyLocal {
				// The endpoint may be on another node: masquerade so that
				// replies come back through this one.
				natRules.write("-A", externalChain, "-m", "comment", "--comment", quote("masquerade traffic for "+name+" external destinations"),
					"-j", kubeMarkMasqChain)
			} else {
				if w.cfg.localCIDR != "" {
					// Pods going to an external address of the service
					// get the cluster policy, as if they had gone out to
					// a load balancer and come back.
					natRules.write("-A", externalChain, "-m", "comment", "--comment", quote("pod traffic for "+name+" external destinations"),
						w.ifLocal(), "-j", clusterChain)
				}
				// Traffic from this node has a local source address that
				// the endpoint cannot answer; masquerade and use the
				// cluster policy.
				natRules.write("-A", externalChain, "-m", "comment", "--comment", quote("masquerade LOCAL traffic for "+name+" external destinations"),
					"-m", "addrtype", "--src-type", "LOCAL", "-j", kubeMarkMasqChain)
				natRules.write("-A", externalChain, "-m", "comment", "--comment", quote("route LOCAL traffic for "+name+" external destinations"),
					"-m", "addrtype", "--src-type", "LOCAL", "-j", clusterChain)
			}
			if hasExternal {
				natRules.write("-A", externalChain, "-j", externalPolicyChain)
			}
		}

		if usesFirewallChain {
			fw := sp.chains.firewall
			addChain(fw)
			fwArgs := []string{"-A", fw, "-m", "comment", "--comment", quote(name + " loadbalancer IP")}
			allowFromNode := false
			for _, cidr := range sp.sourceRanges {
				natRules.write(fwArgs, "-s", cidr.String(), "-j", externalChain)
				if w.cfg.nodeIP != nil && cidr.Contains(w.cfg.nodeIP) {
					allowFromNode = true
				}
			}
			// A request from this node to an LB IP that is also a local
			// address loops back with the LB IP as source.
			if allowFromNode {
				for _, ip := range sp.loadBalancerVIPs {
					natRules.write(fwArgs, "-s", ip, "-j", externalChain)
				}
			}
			// What falls through is not DNATed, and KUBE-PROXY-FIREWALL
			// drops it.
			natRules.write("-A", fw, "-m", "comment", "--comment", quote("other traffic to "+name+" will be dropped by KUBE-PROXY-FIREWALL"))
		}

		if usesClusterChain {
			addChain(clusterChain)
			w.writeBalancing(natRules, sp, clusterChain, clusterEPs)
		}
		if usesLocalChain {
			addChain(localChain)
			w.writeBalancing(natRules, sp, localChain, localEPs)
		}

		for _, ep := range reachable {
			addChain(ep.chain)
			args = append(args[:0], "-A", ep.chain)
			args = append(args, w.endpointComment(name)...)
			// Hairpin: a pod reaching itself through the service must be
			// masqueraded, or it would answer itself directly.
			natRules.write(args, "-s", ep.ip, "-j", kubeMarkMasqChain)
			if sp.clientIPAffinity {
				args = append(args, "-m", "recent", "--name", ep.chain, "--set")
			}
			natRules.write(args, "-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", ep.addr)
		}
		st.rules = natRules.lines - rulesBefore
	}

	// Chains no longer used: in a full sync, every service chain in the
	// kernel that is not written; in a partial one, those the changed
	// services had and no longer have.
	active := sets.New[string]()
	if full {
		for _, byPort := range w.written {
			for _, st := range byPort {
				active.Insert(st.chains...)
			}
		}
		for _, c := range in.existingChains {
			if isServiceChain(c) {
				previous.Insert(c)
			}
		}
	} else {
		for svc := range in.changed {
			for _, st := range w.written[svc] {
				active.Insert(st.chains...)
			}
		}
	}
	var stale []string
	for chain := range previous {
		if !active.Has(chain) {
			stale = append(stale, chain)
		}
	}
	sort.Strings(stale)
	for _, chain := range stale {
		// A chain line flushes the chain; then it can be deleted.
		w.natChains.write(chainLine(chain))
		w.natRules.write("-X", chain)
	}

	// The jump to KUBE-NODEPORTS must be the last rule of KUBE-SERVICES.
	const nodePortsComment = `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`
	if w.cfg.nodePortIPs == nil {
		dst := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
		if w.cfg.ipv6 {
			dst = append(dst, "!", "-d", "::1/128")
		} else if !w.cfg.localhostNodePorts {
			dst = append(dst, "!", "-d", "127.0.0.0/8")
		}
		w.topRules[kubeServicesChain].write("-A", kubeServicesChain, "-m", "comment", "--comment", nodePortsComment, dst, "-j", kubeNodePortsChain)
	} else {
		for _, ip := range w.cfg.nodePortIPs {
			if parsed := net.ParseIP(ip); parsed != nil && parsed.IsLoopback() && (w.cfg.ipv6 || !w.cfg.localhostNodePorts) {
				continue
			}
			w.topRules[kubeServicesChain].write("-A", kubeServicesChain, "-m", "comment", "--comment", nodePortsComment, "-d", ip, "-j", kubeNodePortsChain)
		}
	}

	if !w.cfg.conntrackTCPLiberal {
		// Packets conntrack finds INVALID would reset connections if
		// forwarded unNATed (upstream issue 74839).
		w.filterRules.write("-A", kubeForwardChain, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	}
	// Service traffic is forwarded even when the FORWARD policy is DROP.
	w.filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", quote("kubernetes forwarding rules"),
		"-m", "mark", "--mark", mark+"/"+mark, "-j", "ACCEPT")
	w.filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", quote("kubernetes forwarding conntrack rule"),
		"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

	// Assemble the input, leaving out in a partial sync the filter table
	// and the nat top-level chains when they are as last written.
	w.out.Reset()
	filterStart := w.out.Len()
	w.out.WriteString("*filter\n")
	w.out.Write(w.filterChains.buf.Bytes())
	w.out.Write(w.filterRules.buf.Bytes())
	w.out.WriteString("COMMIT\n")
	filterRulesWritten := w.filterRules.lines
	if !full && bytes.Equal(w.out.Bytes()[filterStart:], w.lastFilter) {
		w.out.Truncate(filterStart)
		filterRulesWritten = 0
	} else {
		w.lastFilter = append(w.lastFilter[:0], w.out.Bytes()[filterStart:]...)
	}
	var changedTop []string
	for _, c := range natTopChains {
		b := w.topRules[c].buf.Bytes()
		if full || !bytes.Equal(b, w.lastTop[c]) {
			changedTop = append(changedTop, c)
			w.lastTop[c] = append(w.lastTop[c][:0], b...)
		}
	}
	topWritten := 0
	if len(changedTop) > 0 || w.natChains.lines > 0 || w.natRules.lines > 0 {
		w.out.WriteString("*nat\n")
		for _, c := range changedTop {
			w.out.WriteString(chainLine(c) + "\n")
		}
		w.out.Write(w.natChains.buf.Bytes())
		for _, c := range changedTop {
			w.out.Write(w.topRules[c].buf.Bytes())
			topWritten += w.topRules[c].lines
		}
		w.out.Write(w.natRules.buf.Bytes())
		w.out.WriteString("COMMIT\n")
	}
	topTotal := 0
	for _, c := range natTopChains {
		topTotal += w.topRules[c].lines
	}

	deleted := len(stale)
	return ruleOutput{
		data:            w.out.Bytes(),
		deletedChains:   deleted,
		filterRules:     w.filterRules.lines,
		filterWritten:   filterRulesWritten,
		natRulesWritten: topWritten + w.natRules.lines - deleted,
		natRulesTotal:   topTotal + w.natRules.lines + keptRules - deleted,
		services:        len(in.ports),
		endpoints:       total,
		largeCluster:    w.largeCluster,
	}
}

// writeBalancing fills a KUBE-SVC or KUBE-SVL chain: session-affinity
// checks first, then one rule per endpoint, each taking its share with a
// random probability (1/n, 1/(n-1), ..., the last one everything left).
func (w *ruleWriter) writeBalancing(rules *lineBuffer, sp *servicePort, chain string, eps []*endpoint) {
	if sp.clientIPAffinity {
		for _, ep := range eps {
			rules.write("-A", chain, w.endpointComment(quote(sp.nameString+" -> "+ep.addr)),
				"-m", "recent", "--name", ep.chain, "--rcheck", "--seconds", strconv.Itoa(sp.stickyMaxAgeSeconds), "--reap",
				"-j", ep.chain)
		}
	}
	n := len(eps)
	for i, ep := range eps {
		comment := w.endpointComment(quote(sp.nameString + " -> " + ep.addr))
		if i < n-1 {
			rules.write("-A", chain, comment, "-m", "statistic", "--mode", "random", "--probability", w.probability(n-i), "-j", ep.chain)
		} else {
			rules.write("-A", chain, comment, "-j", ep.chain)
		}
	}
}
