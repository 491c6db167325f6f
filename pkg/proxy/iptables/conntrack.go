package iptables

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// conntrackCleaner removes UDP conntrack entries that point at endpoints
// no longer serving a service. UDP has no connection to end: a client
// that keeps sending (DNS, statsd) refreshes its entry and would keep
// going to a deleted pod, or keep being rejected after endpoints appear.
type conntrackCleaner interface {
	CleanStaleUDP(ports []*servicePort, endpoints map[ServicePortName][]*endpoint) (int, error)
}

// netlinkConntrack talks to the kernel's conntrack table over netlink.
type netlinkConntrack struct {
	family netlink.InetFamily
}

func newConntrack(family v1.IPFamily) conntrackCleaner {
	if family == v1.IPv6Protocol {
		return &netlinkConntrack{family: unix.AF_INET6}
	}
	return &netlinkConntrack{family: unix.AF_INET}
}

func (c *netlinkConntrack) CleanStaleUDP(ports []*servicePort, endpoints map[ServicePortName][]*endpoint) (int, error) {
	f := newStaleUDPFilter(ports, endpoints)
	if f.empty() {
		return 0, nil
	}
	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, c.family, f)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return int(n), fmt.Errorf("delete stale UDP conntrack entries: %w", err)
	}
	return int(n), nil
}

// staleUDPFilter matches UDP flows whose original destination is a UDP
// service frontend (cluster IP, external IP or LB IP and port; or a
// NodePort) and whose reply comes from something that is not one of the
// service's serving endpoints. Traffic policies and topology are not
// considered, as upstream: a change of policy leaves existing flows alone.
type staleUDPFilter struct {
	frontends map[string]sets.Set[string] // "ip:port" -> serving endpoints
	nodePorts map[int]sets.Set[string]
}

func newStaleUDPFilter(ports []*servicePort, endpoints map[ServicePortName][]*endpoint) *staleUDPFilter {
	f := &staleUDPFilter{frontends: map[string]sets.Set[string]{}, nodePorts: map[int]sets.Set[string]{}}
	for _, sp := range ports {
		if sp.name.Protocol != v1.ProtocolUDP {
			continue
		}
		serving := sets.New[string]()
		for _, e := range endpoints[sp.name] {
			if e.serving {
				serving.Insert(e.addr)
			}
		}
		port := strconv.Itoa(sp.port)
		f.frontends[net.JoinHostPort(sp.clusterIP, port)] = serving
		for _, ip := range sp.externalIPs {
			f.frontends[net.JoinHostPort(ip, port)] = serving
		}
		for _, ip := range sp.loadBalancerVIPs {
			f.frontends[net.JoinHostPort(ip, port)] = serving
		}
		// A NodePort matches on the port alone; with no endpoints at all
		// that would also hit flows to other hosts on the same port.
		if sp.nodePort != 0 && serving.Len() > 0 {
			f.nodePorts[sp.nodePort] = serving
		}
	}
	return f
}

func (f *staleUDPFilter) empty() bool { return len(f.frontends) == 0 && len(f.nodePorts) == 0 }

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (f *staleUDPFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	backend := net.JoinHostPort(flow.Reverse.SrcIP.String(), strconv.Itoa(int(flow.Reverse.SrcPort)))
	if serving, ok := f.frontends[net.JoinHostPort(flow.Forward.DstIP.String(), strconv.Itoa(int(flow.Forward.DstPort)))]; ok {
		return !serving.Has(backend)
	}
	if serving, ok := f.nodePorts[int(flow.Forward.DstPort)]; ok {
		return !serving.Has(backend)
	}
	return false
}
