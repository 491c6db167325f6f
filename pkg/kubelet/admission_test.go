package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
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
	if r, _ := a.admit(holder, isActive); r != "" {
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
			if got, msg := a.admit(tt.pod, isActive); got != tt.want {
				t.Errorf("admit = %q (%s), want %q", got, msg, tt.want)
			}
		})
	}
	// Once the holder ended, its port is free again.
	active["holder"] = false
	if r, _ := a.admit(portPod("f", v1.ContainerPort{HostPort: 21017, ContainerPort: 80}), isActive); r != "" {
		t.Errorf("port not freed by a terminal pod: %s", r)
	}
}
