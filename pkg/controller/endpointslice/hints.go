package endpointslice

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// reconcileHints sets the endpoints' hints for the Service's
// trafficDistribution: for PreferClose and PreferSameZone each ready
// endpoint is hinted for its own zone, for PreferSameNode also for its
// node; otherwise (and for the topology-aware-hints annotation, which
// skiff does not implement) hints are removed. Slices to create or update
// are changed in place; unchanged slices whose hints are wrong are copied
// into the returned update list.
func reconcileHints(trafficDistribution *string, create, update, unchanged []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	h := hinter{}
	if trafficDistribution != nil {
		switch *trafficDistribution {
		case corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone:
			h.close = true
		case corev1.ServiceTrafficDistributionPreferSameNode:
			h.close, h.nodes = true, true
		}
	}
	for _, s := range unchanged {
		if !h.correct(s) {
			update = append(update, s.DeepCopy())
		}
	}
	for _, s := range create {
		h.apply(s)
	}
	for _, s := range update {
		h.apply(s)
	}
	return update
}

type hinter struct {
	// close hints endpoints for their zone, nodes also for their node.
	close, nodes bool
}

func (h hinter) want(ep discoveryv1.Endpoint) *discoveryv1.EndpointHints {
	if !h.close || ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
		return ep.Hints // not-ready endpoints keep whatever they have
	}
	var hints discoveryv1.EndpointHints
	if ep.Zone != nil {
		hints.ForZones = []discoveryv1.ForZone{{Name: *ep.Zone}}
	}
	if h.nodes && ep.NodeName != nil {
		hints.ForNodes = []discoveryv1.ForNode{{Name: *ep.NodeName}}
	}
	if hints.ForZones == nil && hints.ForNodes == nil {
		return nil
	}
	return &hints
}

func (h hinter) correct(s *discoveryv1.EndpointSlice) bool {
	for _, ep := range s.Endpoints {
		if !h.close {
			if ep.Hints != nil {
				return false
			}
			continue
		}
		if !hintsEqual(ep.Hints, h.want(ep)) {
			return false
		}
	}
	return true
}

func (h hinter) apply(s *discoveryv1.EndpointSlice) {
	for i := range s.Endpoints {
		if !h.close {
			s.Endpoints[i].Hints = nil
			continue
		}
		s.Endpoints[i].Hints = h.want(s.Endpoints[i])
	}
}

func hintsEqual(a, b *discoveryv1.EndpointHints) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.ForZones) != len(b.ForZones) || len(a.ForNodes) != len(b.ForNodes) {
		return false
	}
	for i := range a.ForZones {
		if a.ForZones[i] != b.ForZones[i] {
			return false
		}
	}
	for i := range a.ForNodes {
		if a.ForNodes[i].Name != b.ForNodes[i].Name {
			return false
		}
	}
	return true
}
