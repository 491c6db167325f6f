package iptables

import (
	"net"
	"reflect"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	apiservice "k8s.io/kubernetes/pkg/api/v1/service"
	netutils "k8s.io/utils/net"
)

// ServicePortName identifies one port of a Service.
type ServicePortName struct {
	types.NamespacedName
	Port     string
	Protocol v1.Protocol
}

// String is "namespace/name" or "namespace/name:port", as upstream writes it
// in chain hashes and rule comments.
func (n ServicePortName) String() string {
	if n.Port == "" {
		return n.NamespacedName.String()
	}
	return n.NamespacedName.String() + ":" + n.Port
}

// servicePort is what the rules need of one port of a Service, for this
// proxier's IP family. It is computed once per Service change; two equal
// servicePorts produce the same rules.
type servicePort struct {
	name       ServicePortName
	nameString string
	protocol   string // lower case, as in "-p tcp"
	chains     servicePortChains

	clusterIP string
	port      int
	nodePort  int

	externalIPs      []string
	loadBalancerVIPs []string
	// sourceRanges are loadBalancerSourceRanges of this family; empty when
	// unset or when one of them allows everything.
	sourceRanges []*net.IPNet

	clientIPAffinity    bool
	stickyMaxAgeSeconds int

	internalPolicyLocal bool
	externalPolicyLocal bool
	healthCheckNodePort int
}

// externallyAccessible reports whether the port has any "external"
// destination: a NodePort, a load-balancer IP or an external IP.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.loadBalancerVIPs) > 0 || len(sp.externalIPs) > 0
}

// usesClusterEndpoints reports whether some traffic to the port is sent
// to endpoints on any node.
func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalPolicyLocal || (sp.externallyAccessible() && !sp.externalPolicyLocal)
}

// usesLocalEndpoints reports whether some traffic to the port is sent only
// to endpoints on this node.
func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalPolicyLocal || (sp.externallyAccessible() && sp.externalPolicyLocal)
}

// servicePortsFor computes the service ports the proxier handles for svc,
// or nil when it handles none: headless and ExternalName services, and
// services without a cluster IP of the family, have no rules.
func servicePortsFor(svc *v1.Service, family v1.IPFamily) []*servicePort {
	if svc == nil || svc.Spec.Type == v1.ServiceTypeExternalName {
		return nil
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone {
		return nil
	}
	clusterIP := clusterIPOfFamily(svc, family)
	if clusterIP == "" {
		return nil
	}
	var externalIPs []string
	for _, s := range svc.Spec.ExternalIPs {
		if ip := netutils.ParseIPSloppy(strings.TrimSpace(s)); ip != nil && familyOf(ip) == family {
			externalIPs = append(externalIPs, ip.String())
		}
	}
	var ranges []*net.IPNet
	for _, s := range svc.Spec.LoadBalancerSourceRanges {
		_, cidr, err := netutils.ParseCIDRSloppy(strings.TrimSpace(s))
		if err != nil || familyOf(cidr.IP) != family {
			continue
		}
		ranges = append(ranges, cidr)
	}
	if slices.ContainsFunc(ranges, func(c *net.IPNet) bool { ones, _ := c.Mask.Size(); return ones == 0 }) {
		ranges = nil // 0.0.0.0/0 allows everything, like no ranges at all
	}
	var lbVIPs []string
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		// Only VIP-style load balancers deliver packets to the node with
		// the LB IP as destination; "Proxy" mode ones do not need rules.
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode != v1.LoadBalancerIPModeVIP) {
			continue
		}
		if ip := netutils.ParseIPSloppy(ing.IP); ip != nil && familyOf(ip) == family {
			lbVIPs = append(lbVIPs, ip.String())
		}
	}
	sticky := 0
	affinity := svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP
	if affinity {
		sticky = int(v1.DefaultClientIPServiceAffinitySeconds)
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			sticky = int(*c.ClientIP.TimeoutSeconds)
		}
	}
	healthCheckNodePort := 0
	if apiservice.NeedsHealthCheck(svc) {
		healthCheckNodePort = int(svc.Spec.HealthCheckNodePort)
	}
	ports := make([]*servicePort, 0, len(svc.Spec.Ports))
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		protocol := p.Protocol
		if protocol == "" {
			protocol = v1.ProtocolTCP
		}
		name := ServicePortName{NamespacedName: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, Port: p.Name, Protocol: protocol}
		sp := &servicePort{
			name:                name,
			nameString:          name.String(),
			protocol:            strings.ToLower(string(protocol)),
			clusterIP:           clusterIP,
			port:                int(p.Port),
			nodePort:            int(p.NodePort),
			externalIPs:         externalIPs,
			loadBalancerVIPs:    lbVIPs,
			sourceRanges:        ranges,
			clientIPAffinity:    affinity,
			stickyMaxAgeSeconds: sticky,
			internalPolicyLocal: apiservice.InternalPolicyLocal(svc),
			externalPolicyLocal: apiservice.ExternalPolicyLocal(svc),
			healthCheckNodePort: healthCheckNodePort,
		}
		sp.chains = chainsFor(sp.nameString, sp.protocol)
		ports = append(ports, sp)
	}
	return ports
}

// clusterIPOfFamily returns the service's cluster IP of the family, or "".
func clusterIPOfFamily(svc *v1.Service, family v1.IPFamily) string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if ip := netutils.ParseIPSloppy(s); ip != nil && familyOf(ip) == family {
			return ip.String()
		}
	}
	return ""
}

func familyOf(ip net.IP) v1.IPFamily {
	if ip.To4() != nil {
		return v1.IPv4Protocol
	}
	return v1.IPv6Protocol
}

func (sp *servicePort) equal(o *servicePort) bool { return reflect.DeepEqual(sp, o) }
