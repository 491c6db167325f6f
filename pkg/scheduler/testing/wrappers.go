// Package testing builds nodes and pods for scheduler tests.
package testing

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeWrapper builds a node.
type NodeWrapper struct{ v1.Node }

// MakeNode starts a node with 110 pods allocatable.
func MakeNode(name string) *NodeWrapper {
	w := &NodeWrapper{v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: map[string]string{v1.LabelHostname: name}}}}
	w.Status.Allocatable = v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}
	w.Status.Capacity = v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}
	return w
}

// Obj returns the node.
func (w *NodeWrapper) Obj() *v1.Node { return &w.Node }

// Label sets a label.
func (w *NodeWrapper) Label(k, v string) *NodeWrapper {
	w.Labels[k] = v
	return w
}

// Capacity sets capacity and allocatable ("cpu": "4", ...).
func (w *NodeWrapper) Capacity(res map[v1.ResourceName]string) *NodeWrapper {
	for k, v := range res {
		w.Status.Allocatable[k] = resource.MustParse(v)
		w.Status.Capacity[k] = resource.MustParse(v)
	}
	return w
}

// Taints sets taints.
func (w *NodeWrapper) Taints(t ...v1.Taint) *NodeWrapper {
	w.Spec.Taints = t
	return w
}

// Unschedulable cordons the node.
func (w *NodeWrapper) Unschedulable() *NodeWrapper {
	w.Spec.Unschedulable = true
	return w
}

// Images sets the node's images.
func (w *NodeWrapper) Images(images map[string]int64) *NodeWrapper {
	for name, size := range images {
		w.Status.Images = append(w.Status.Images, v1.ContainerImage{Names: []string{name}, SizeBytes: size})
	}
	return w
}

// PodWrapper builds a pod.
type PodWrapper struct{ v1.Pod }

// MakePod starts a pod with one container.
func MakePod(ns, name string) *PodWrapper {
	return &PodWrapper{v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name), Labels: map[string]string{}},
		Spec: v1.PodSpec{
			SchedulerName: v1.DefaultSchedulerName,
			Containers:    []v1.Container{{Name: "c", Image: "pause"}},
		},
	}}
}

// Obj returns the pod.
func (w *PodWrapper) Obj() *v1.Pod { return &w.Pod }

// Label sets a label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	w.Labels[k] = v
	return w
}

// Node assigns the pod.
func (w *PodWrapper) Node(n string) *PodWrapper {
	w.Spec.NodeName = n
	return w
}

// Priority sets the priority.
func (w *PodWrapper) Priority(p int32) *PodWrapper {
	w.Spec.Priority = &p
	return w
}

// Req sets the first container's requests.
func (w *PodWrapper) Req(res map[v1.ResourceName]string) *PodWrapper {
	rl := v1.ResourceList{}
	for k, v := range res {
		rl[k] = resource.MustParse(v)
	}
	w.Spec.Containers[0].Resources.Requests = rl
	return w
}

// HostPort adds a host port to the first container.
func (w *PodWrapper) HostPort(port int32, proto v1.Protocol, ip string) *PodWrapper {
	w.Spec.Containers[0].Ports = append(w.Spec.Containers[0].Ports, v1.ContainerPort{HostPort: port, ContainerPort: port, Protocol: proto, HostIP: ip})
	return w
}

// Toleration adds a toleration.
func (w *PodWrapper) Toleration(t v1.Toleration) *PodWrapper {
	w.Spec.Tolerations = append(w.Spec.Tolerations, t)
	return w
}

// NodeSelector sets the node selector.
func (w *PodWrapper) NodeSelector(m map[string]string) *PodWrapper {
	w.Spec.NodeSelector = m
	return w
}

// Affinity sets the affinity.
func (w *PodWrapper) Affinity(a *v1.Affinity) *PodWrapper {
	w.Spec.Affinity = a
	return w
}

// SpreadConstraint adds a topology spread constraint selecting labels.
func (w *PodWrapper) SpreadConstraint(maxSkew int32, key string, mode v1.UnsatisfiableConstraintAction, sel map[string]string) *PodWrapper {
	AddSpreadConstraint(&w.Pod, maxSkew, key, mode, sel)
	return w
}

// AddSpreadConstraint adds a topology spread constraint selecting labels.
func AddSpreadConstraint(p *v1.Pod, maxSkew int32, key string, mode v1.UnsatisfiableConstraintAction, sel map[string]string) {
	p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: mode, LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
	})
}

// PodAffinityTerm returns a required term selecting labels in topologyKey.
func PodAffinityTerm(key string, sel map[string]string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
}
