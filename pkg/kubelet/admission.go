package kubelet

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/noderesources"
)

// Upstream's rejection reasons and messages: the scheduler's predicates the
// kubelet runs again when it admits a pod (resources, node affinity, host
// ports, NoExecute taints) and its OS checks.
const (
	reasonNodePorts     = "NodePorts"
	messageNodePorts    = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
	reasonNodeAffinity  = "NodeAffinity"
	messageNodeAffinity = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
	reasonTaint         = "TaintToleration"
	messageTaint        = "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
	reasonOSLabel       = "PodOSSelectorNodeLabelDoesNotMatch"
	messageOSLabel      = "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
	reasonOSField       = "PodOSNotSupported"
	messageOSField      = "Failed to admit pod as the OS field doesn't match node OS"
)

// podAdmitter decides, once per pod and in the order pods reach it, whether
// the node can run it. Pods bound with spec.nodeName skip the scheduler, so
// the kubelet rejects what cannot run here, as upstream's predicate admit
// handler: a pod for another OS, one whose requests do not fit beside the
// admitted pods, one whose required node affinity the node does not match,
// one whose host port an admitted pod holds, or one that does not tolerate
// a NoExecute taint ends Failed (and a controller replaces it).
type podAdmitter struct {
	mu       sync.Mutex
	admitted map[types.UID]*v1.Pod
}

func newPodAdmitter() *podAdmitter { return &podAdmitter{admitted: map[types.UID]*v1.Pod{}} }

// admit reports the reason and message of a rejection, or "" when the pod
// is admitted. active tells whether an admitted pod still holds its ports.
// node is the kubelet's Node (nil when it cannot be read: only host ports
// are checked then).
func (a *podAdmitter) admit(pod *v1.Pod, node *v1.Node, active func(*v1.Pod) bool) (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.admitted[pod.UID]; ok {
		return "", ""
	}
	var others []*v1.Pod
	for uid, other := range a.admitted {
		if !active(other) {
			delete(a.admitted, uid)
			continue
		}
		others = append(others, other)
	}
	if reason, message := predicates(pod, node, others); reason != "" {
		return reason, message
	}
	a.admitted[pod.UID] = pod
	return "", ""
}

// predicates returns the first of upstream's admission checks pod fails on
// node beside the admitted pods others, in upstream's order.
func predicates(pod *v1.Pod, node *v1.Node, others []*v1.Pod) (string, string) {
	if os, ok := pod.Labels[v1.LabelOSStable]; ok && os != runtime.GOOS {
		return reasonOSLabel, messageOSLabel
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != runtime.GOOS {
		return reasonOSField, messageOSField
	}
	if node != nil {
		info := framework.NewNodeInfo(others...)
		info.SetNode(node)
		if short := noderesources.Fits(pod, info); len(short) > 0 {
			r := short[0]
			return outOfReason(r.ResourceName), fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
				r.ResourceName, r.Requested, r.Used, r.Capacity)
		}
		if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
			return reasonNodeAffinity, messageNodeAffinity
		}
	}
	if want := hostPorts(pod); len(want) > 0 {
		for _, other := range others {
			if portsConflict(want, hostPorts(other)) {
				return reasonNodePorts, messageNodePorts
			}
		}
	}
	// The kubelet only minds NoExecute taints, and not for static pods.
	if node != nil && !isStaticPod(pod) {
		if _, bad := v1helper.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
			func(t *v1.Taint) bool { return t.Effect == v1.TaintEffectNoExecute }, false); bad {
			return reasonTaint, messageTaint
		}
	}
	return "", ""
}

// outOfReason is upstream's reason for a resource the node lacks.
func outOfReason(name v1.ResourceName) string {
	switch name {
	case v1.ResourceCPU:
		return "OutOfcpu"
	case v1.ResourceMemory:
		return "OutOfmemory"
	case v1.ResourceEphemeralStorage:
		return "OutOfephemeral-storage"
	case v1.ResourcePods:
		return "OutOfpods"
	}
	return "OutOf" + string(name)
}

// admissionNode reads the kubelet's Node for admission; nil (and only the
// checks that need no node) when it cannot.
func (kl *Kubelet) admissionNode(ctx context.Context) *v1.Node {
	node, err := kl.client.CoreV1().Nodes().Get(ctx, kl.cfg.NodeName, metav1.GetOptions{ResourceVersion: "0"})
	if err != nil {
		klog.FromContext(ctx).Error(err, "Cannot read the node to admit a pod; checking host ports only")
		return nil
	}
	return node
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
