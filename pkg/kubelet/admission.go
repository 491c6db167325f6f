package kubelet

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// Upstream's predicate name and description for a host port another pod on
// the node already uses (the scheduler's NodePorts plugin, which the
// kubelet runs again when it admits a pod).
const (
	reasonNodePorts  = "NodePorts"
	messageNodePorts = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
)

// podAdmitter decides, once per pod and in the order pods reach it, whether
// the node can run it. Pods bound with spec.nodeName skip the scheduler, so
// the kubelet rejects what cannot run here: a pod whose host port another
// admitted pod holds ends Failed (and a controller replaces it).
type podAdmitter struct {
	mu       sync.Mutex
	admitted map[types.UID]*v1.Pod
}

func newPodAdmitter() *podAdmitter { return &podAdmitter{admitted: map[types.UID]*v1.Pod{}} }

// admit reports the reason and message of a rejection, or "" when the pod
// is admitted. active tells whether an admitted pod still holds its ports.
func (a *podAdmitter) admit(pod *v1.Pod, active func(*v1.Pod) bool) (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := hostPorts(pod)
	if _, ok := a.admitted[pod.UID]; ok {
		return "", ""
	}
	for uid, other := range a.admitted {
		if !active(other) {
			delete(a.admitted, uid)
			continue
		}
		if len(want) > 0 && portsConflict(want, hostPorts(other)) {
			return reasonNodePorts, messageNodePorts
		}
	}
	a.admitted[pod.UID] = pod
	return "", ""
}

// record admits a pod without checks: it already runs here (its sandbox
// outlived a kubelet restart).
func (a *podAdmitter) record(pod *v1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.admitted[pod.UID] = pod
}

type nodeHostPort struct {
	protocol v1.Protocol
	ip       string
	port     int32
}

func hostPorts(pod *v1.Pod) []nodeHostPort {
	var out []nodeHostPort
	podutil.VisitContainers(&pod.Spec, podutil.InitContainers|podutil.Containers, func(c *v1.Container, _ podutil.ContainerType) bool {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, nodeHostPort{proto, ip, p.HostPort})
		}
		return true
	})
	return out
}

// portsConflict: same protocol and port, and the same address or either
// on all addresses (the scheduler's rule).
func portsConflict(a, b []nodeHostPort) bool {
	for _, x := range a {
		for _, y := range b {
			if x.protocol == y.protocol && x.port == y.port && (x.ip == y.ip || x.ip == "0.0.0.0" || y.ip == "0.0.0.0") {
				return true
			}
		}
	}
	return false
}
