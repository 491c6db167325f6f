package iptables

import (
	"net"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	netutils "k8s.io/utils/net"
)

// endpoint is one backend ("ip:port") of a service port, with the
// conditions the proxy acts on.
type endpoint struct {
	ip   string
	port int
	addr string // "ip:port", as in --to-destination
	// chain is the endpoint's KUBE-SEP chain; it depends on the service
	// port, so the same address in two services has two chains.
	chain string

	ready, serving, terminating bool
	// local is set when the endpoint runs on this node.
	local     bool
	zoneHints sets.Set[string]
	nodeHints sets.Set[string]
}

func (e *endpoint) equal(o *endpoint) bool {
	return e.addr == o.addr && e.chain == o.chain && e.ready == o.ready && e.serving == o.serving &&
		e.terminating == o.terminating && e.local == o.local && e.zoneHints.Equal(o.zoneHints) && e.nodeHints.Equal(o.nodeHints)
}

// endpointsBySlice groups a service's EndpointSlices by slice name.
type endpointsBySlice map[string]*discovery.EndpointSlice

// endpointsFor merges a service's EndpointSlices of the family into
// endpoints per service port, each list sorted by address so that equal
// inputs give equal rules.
func endpointsFor(svc types.NamespacedName, slices endpointsBySlice, family v1.IPFamily, nodeName string) map[ServicePortName][]*endpoint {
	want := discovery.AddressTypeIPv4
	if family == v1.IPv6Protocol {
		want = discovery.AddressTypeIPv6
	}
	byPort := map[ServicePortName]map[string]*endpoint{}
	for _, name := range sortedKeys(slices) {
		slice := slices[name]
		if slice.AddressType != want {
			continue
		}
		for _, p := range slice.Ports {
			if p.Port == nil {
				continue
			}
			spn := ServicePortName{NamespacedName: svc, Protocol: v1.ProtocolTCP}
			if p.Name != nil {
				spn.Port = *p.Name
			}
			if p.Protocol != nil {
				spn.Protocol = *p.Protocol
			}
			set := byPort[spn]
			if set == nil {
				set = map[string]*endpoint{}
				byPort[spn] = set
			}
			nameString, protocol := spn.String(), strings.ToLower(string(spn.Protocol))
			for i := range slice.Endpoints {
				ep := &slice.Endpoints[i]
				if len(ep.Addresses) == 0 {
					continue
				}
				ip := netutils.ParseIPSloppy(ep.Addresses[0])
				if ip == nil {
					continue
				}
				e := &endpoint{
					ip:          ip.String(),
					port:        int(*p.Port),
					ready:       ep.Conditions.Ready == nil || *ep.Conditions.Ready,
					serving:     ep.Conditions.Serving == nil || *ep.Conditions.Serving,
					terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
					local:       nodeName != "" && ep.NodeName != nil && *ep.NodeName == nodeName,
				}
				e.addr = net.JoinHostPort(e.ip, strconv.Itoa(e.port))
				e.chain = endpointChainName(nameString, protocol, e.addr)
				if ep.Hints != nil {
					for _, z := range ep.Hints.ForZones {
						if e.zoneHints == nil {
							e.zoneHints = sets.New[string]()
						}
						e.zoneHints.Insert(z.Name)
					}
					for _, n := range ep.Hints.ForNodes {
						if e.nodeHints == nil {
							e.nodeHints = sets.New[string]()
						}
						e.nodeHints.Insert(n.Name)
					}
				}
				// An endpoint can show up in two slices while it moves
				// between them, or twice when a new pod reuses the IP of
				// a terminating one: prefer the one that is not
				// terminating.
				if _, seen := set[e.addr]; !seen || !e.terminating {
					set[e.addr] = e
				}
			}
		}
	}
	out := make(map[ServicePortName][]*endpoint, len(byPort))
	for spn, set := range byPort {
		list := make([]*endpoint, 0, len(set))
		for _, e := range set {
			list = append(list, e)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].addr < list[j].addr })
		out[spn] = list
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// categorizeEndpoints splits a service port's endpoints as upstream's
// proxies do:
//   - cluster: usable by "Cluster" traffic policy (nil when the port never
//     uses it), honouring topology hints;
//   - local: usable by "Local" traffic policy (nil when never used);
//   - reachable: the union, the endpoints that need KUBE-SEP chains;
//   - hasAny: whether any usable endpoint exists anywhere in the cluster.
//
// "Usable" is ready; when no endpoint is ready (separately for cluster and
// local), serving terminating endpoints are used instead, so that
// connections keep working while a rollout replaces the last pod.
func categorizeEndpoints(eps []*endpoint, sp *servicePort, nodeName, zone string) (cluster, local, reachable []*endpoint, hasAny bool) {
	if len(eps) == 0 {
		return nil, nil, nil, false
	}
	topologyMode := ""
	if sp.usesClusterEndpoints() {
		topologyMode = topologyModeFromHints(eps, nodeName, zone)
		cluster = filterEndpoints(eps, func(e *endpoint) bool { return e.ready && availableForTopology(e, topologyMode, nodeName, zone) })
		if len(cluster) == 0 {
			cluster = filterEndpoints(eps, func(e *endpoint) bool { return e.serving && e.terminating })
		}
		hasAny = len(cluster) > 0
	}
	if !sp.usesLocalEndpoints() {
		return cluster, nil, cluster, hasAny
	}
	var localReady, localServingTerminating bool
	for _, e := range eps {
		switch {
		case e.ready:
			hasAny = true
			localReady = localReady || e.local
		case e.serving && e.terminating:
			hasAny = true
			localServingTerminating = localServingTerminating || e.local
		}
	}
	useTerminating := false
	if localReady {
		local = filterEndpoints(eps, func(e *endpoint) bool { return e.local && e.ready })
	} else if localServingTerminating {
		useTerminating = true
		local = filterEndpoints(eps, func(e *endpoint) bool { return e.local && e.serving && e.terminating })
	}
	if !sp.usesClusterEndpoints() {
		return nil, local, local, hasAny
	}
	if topologyMode == "" && !useTerminating {
		// cluster then holds every ready endpoint, local ones included.
		return cluster, local, cluster, hasAny
	}
	seen := sets.New[string]()
	for _, list := range [][]*endpoint{cluster, local} {
		for _, e := range list {
			if !seen.Has(e.addr) {
				seen.Insert(e.addr)
				reachable = append(reachable, e)
			}
		}
	}
	sort.Slice(reachable, func(i, j int) bool { return reachable[i].addr < reachable[j].addr })
	return cluster, local, reachable, hasAny
}

// topologyModeFromHints picks PreferSameNode when every ready endpoint has
// node hints and one is for this node, else PreferSameZone when every ready
// endpoint has zone hints and one is for this node's zone, else "" (no
// topology: all endpoints).
func topologyModeFromHints(eps []*endpoint, nodeName, zone string) string {
	anyReady := false
	allNodeHints, forNode := true, false
	allZoneHints, forZone := true, false
	for _, e := range eps {
		if !e.ready {
			continue
		}
		anyReady = true
		if e.nodeHints.Len() == 0 {
			allNodeHints = false
		} else if e.nodeHints.Has(nodeName) {
			forNode = true
		}
		if e.zoneHints.Len() == 0 {
			allZoneHints = false
		} else if e.zoneHints.Has(zone) {
			forZone = true
		}
	}
	switch {
	case !anyReady:
		return ""
	case allNodeHints && forNode:
		return v1.ServiceTrafficDistributionPreferSameNode
	case allZoneHints && forZone:
		return v1.ServiceTrafficDistributionPreferSameZone
	}
	return ""
}

func availableForTopology(e *endpoint, mode, nodeName, zone string) bool {
	switch mode {
	case "":
		return true
	case v1.ServiceTrafficDistributionPreferSameNode:
		return e.nodeHints.Has(nodeName)
	case v1.ServiceTrafficDistributionPreferSameZone:
		return e.zoneHints.Has(zone)
	}
	return false
}

func filterEndpoints(eps []*endpoint, keep func(*endpoint) bool) []*endpoint {
	out := make([]*endpoint, 0, len(eps))
	for _, e := range eps {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
