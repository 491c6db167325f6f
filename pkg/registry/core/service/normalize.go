package service

import (
	corev1 "k8s.io/api/core/v1"
	netutils "k8s.io/utils/net"
)

// normalizeClusterIPs keeps clusterIP and clusterIPs consistent for clients
// that set only the singular field (or cleared it), as upstream does. A nil
// oldSvc means a create. Validation judges the result.
func normalizeClusterIPs(svc, oldSvc *corev1.Service) {
	if oldSvc == nil {
		if svc.Spec.ClusterIP != "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		return
	}
	// An old client patching something else sent no clusterIPs.
	if len(oldSvc.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) == 0 && oldSvc.Spec.ClusterIP == svc.Spec.ClusterIP {
		svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIPs
	}
	if oldSvc.Spec.ClusterIP == svc.Spec.ClusterIP {
		return
	}
	if oldSvc.Spec.ClusterIP != "" && svc.Spec.ClusterIP == "" {
		// Clearing the singular clears the plural if it was left alone.
		if sameClusterIPs(oldSvc, svc) {
			svc.Spec.ClusterIPs = nil
		}
		return
	}
	// The singular changed and the plural was left alone: follow it.
	if sameClusterIPs(oldSvc, svc) {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
}

// patchAllocatedValues copies the values allocated for oldSvc into an update
// that left them out, so that re-applying the same manifest (without the
// allocated ClusterIP or NodePorts) succeeds.
func patchAllocatedValues(svc, oldSvc *corev1.Service) {
	if needsClusterIP(oldSvc) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = oldSvc.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 && len(oldSvc.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIPs
		}
	}
	if needsNodePort(oldSvc) && needsNodePort(svc) {
		// NodePorts the new Service names itself cannot be patched in.
		used := nodePorts(oldSvc).Intersection(nodePorts(svc))
		byName := map[string]int32{}
		for _, p := range oldSvc.Spec.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 && !used.Has(byName[p.Name]) {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if needsHCNodePort(oldSvc) && needsHCNodePort(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = oldSvc.Spec.HealthCheckNodePort
	}
}

// needsNodePort is true for the types that get NodePorts allocated.
func needsNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
			(svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts))
}

// defaultOnRead fills fields that Services stored by older servers lack:
// clusterIPs from clusterIP, and the IP family fields.
func defaultOnRead(svc *corev1.Service, primary corev1.IPFamily) {
	normalizeClusterIPs(svc, nil)
	// Upstream once defaulted internalTrafficPolicy for ExternalName
	// Services; it is hidden when read.
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.InternalTrafficPolicy = nil
		return
	}
	if len(svc.Spec.IPFamilies) > 0 {
		return
	}
	single, dual := corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyRequireDualStack
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		if len(svc.Spec.Selector) == 0 {
			svc.Spec.IPFamilyPolicy = &dual
			svc.Spec.IPFamilies = []corev1.IPFamily{primary, otherFamily(primary)}
		} else {
			svc.Spec.IPFamilyPolicy = &single
			svc.Spec.IPFamilies = []corev1.IPFamily{primary}
		}
		return
	}
	svc.Spec.IPFamilies = make([]corev1.IPFamily, len(svc.Spec.ClusterIPs))
	for i, ip := range svc.Spec.ClusterIPs {
		svc.Spec.IPFamilies[i] = corev1.IPv4Protocol
		if netutils.IsIPv6String(ip) {
			svc.Spec.IPFamilies[i] = corev1.IPv6Protocol
		}
	}
	switch len(svc.Spec.IPFamilies) {
	case 1:
		svc.Spec.IPFamilyPolicy = &single
	case 2:
		svc.Spec.IPFamilyPolicy = &dual
	}
}
