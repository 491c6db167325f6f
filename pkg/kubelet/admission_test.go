package kubelet

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func portPod(name string, ports ...v1.ContainerPort) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name + "-uid")},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Ports: ports}}},
	}
}

func TestAdmitHostPorts(t *testing.T) {
	holder := portPod("holder", v1.ContainerPort{HostPort: 21017, ContainerPort: 21017})
	active := map[string]bool{"holder": true}
	isActive := func(p *v1.Pod) bool { return active[p.Name] }
	a := newPodAdmitter()
	if r, _ := a.admit(holder, nil, isActive); r != "" {
		t.Fatalf("first pod rejected: %s", r)
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want string
	}{
		{"same port, all addresses", portPod("a", v1.ContainerPort{HostPort: 21017, ContainerPort: 80}), reasonNodePorts},
		{"same port, one address", portPod("b", v1.ContainerPort{HostPort: 21017, HostIP: "127.0.0.1", ContainerPort: 80}), reasonNodePorts},
		{"same port, UDP", portPod("c", v1.ContainerPort{HostPort: 21017, Protocol: v1.ProtocolUDP, ContainerPort: 80}), ""},
		{"other port", portPod("d", v1.ContainerPort{HostPort: 21018, ContainerPort: 80}), ""},
		{"no host port", portPod("e", v1.ContainerPort{ContainerPort: 21017}), ""},
		{"the holder again", holder, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := a.admit(tt.pod, nil, isActive); got != tt.want {
				t.Errorf("admit = %q (%s), want %q", got, msg, tt.want)
			}
		})
	}
	// Once the holder ended, its port is free again.
	active["holder"] = false
	if r, _ := a.admit(portPod("f", v1.ContainerPort{HostPort: 21017, ContainerPort: 80}), nil, isActive); r != "" {
		t.Errorf("port not freed by a terminal pod: %s", r)
	}
}

func TestAdmitNodePredicates(t *testing.T) {
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"disk": "ssd", v1.LabelOSStable: "linux"}},
		Spec:       v1.NodeSpec{Taints: []v1.Taint{{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoExecute}}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("4Gi"), v1.ResourcePods: resource.MustParse("3")}},
	}
	tolerant := func(name string) *v1.Pod {
		p := portPod(name)
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpExists}}
		return p
	}
	withCPU := func(p *v1.Pod, cpu string) *v1.Pod {
		p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
		return p
	}
	for name, tc := range map[string]struct {
		pod         *v1.Pod
		others      []*v1.Pod
		want        string
		wantMessage string
	}{
		"fits":                  {pod: withCPU(tolerant("p"), "1"), others: []*v1.Pod{withCPU(tolerant("o"), "1")}},
		"cpu beside others":     {pod: withCPU(tolerant("p"), "1500m"), others: []*v1.Pod{withCPU(tolerant("o"), "1")}, want: "OutOfcpu", wantMessage: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		"too many pods":         {pod: tolerant("p"), others: []*v1.Pod{tolerant("a"), tolerant("b"), tolerant("c")}, want: "OutOfpods"},
		"untolerated taint":     {pod: portPod("p"), want: reasonTaint, wantMessage: messageTaint},
		"node selector":         {pod: func() *v1.Pod { p := tolerant("p"); p.Spec.NodeSelector = map[string]string{"disk": "hdd"}; return p }(), want: reasonNodeAffinity},
		"selector that matches": {pod: func() *v1.Pod { p := tolerant("p"); p.Spec.NodeSelector = map[string]string{"disk": "ssd"}; return p }()},
		"windows pod":           {pod: func() *v1.Pod { p := tolerant("p"); p.Spec.OS = &v1.PodOS{Name: v1.Windows}; return p }(), want: reasonOSField},
		"windows os label": {pod: func() *v1.Pod {
			p := tolerant("p")
			p.Labels = map[string]string{v1.LabelOSStable: "windows"}
			return p
		}(), want: reasonOSLabel},
		"static pod ignores taints": {pod: func() *v1.Pod {
			p := portPod("p")
			p.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
			return p
		}()},
	} {
		t.Run(name, func(t *testing.T) {
			a := newPodAdmitter()
			for _, o := range tc.others {
				a.record(o)
			}
			got, msg := a.admit(tc.pod, node, func(*v1.Pod) bool { return true })
			if got != tc.want || !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("admit = %q %q, want %q %q", got, msg, tc.want, tc.wantMessage)
			}
		})
	}
}
