package iptables

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func udpFlow(dst string, dport uint16, replySrc string, replySport uint16) *netlink.ConntrackFlow {
	return &netlink.ConntrackFlow{
		Forward: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP("10.0.0.99"), SrcPort: 40000, DstIP: net.ParseIP(dst), DstPort: dport},
		Reverse: netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP(replySrc), SrcPort: replySport, DstIP: net.ParseIP("10.0.0.99"), DstPort: 40000},
	}
}

func TestStaleUDPFilter(t *testing.T) {
	dns := ServicePortName{NamespacedName: types.NamespacedName{Namespace: "kube-system", Name: "kube-dns"}, Port: "dns", Protocol: v1.ProtocolUDP}
	web := ServicePortName{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "web"}, Port: "http", Protocol: v1.ProtocolTCP}
	empty := ServicePortName{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "empty"}, Protocol: v1.ProtocolUDP}
	ports := []*servicePort{
		{name: dns, clusterIP: "10.96.0.10", port: 53, nodePort: 30053, externalIPs: []string{"192.0.2.10"}},
		{name: web, clusterIP: "10.96.0.20", port: 53},
		{name: empty, clusterIP: "10.96.0.30", port: 53, nodePort: 30054},
	}
	eps := map[ServicePortName][]*endpoint{
		dns: {{addr: "10.244.0.5:53", serving: true}, {addr: "10.244.0.6:53", serving: false}},
		web: {},
	}
	f := newStaleUDPFilter(ports, eps)
	tests := []struct {
		name string
		flow *netlink.ConntrackFlow
		want bool
	}{
		{"to a serving endpoint", udpFlow("10.96.0.10", 53, "10.244.0.5", 53), false},
		{"to a deleted endpoint", udpFlow("10.96.0.10", 53, "10.244.0.7", 53), true},
		{"to a non-serving endpoint", udpFlow("10.96.0.10", 53, "10.244.0.6", 53), true},
		{"never DNATed (rejected before endpoints came)", udpFlow("10.96.0.10", 53, "10.96.0.10", 53), true},
		{"external IP to a deleted endpoint", udpFlow("192.0.2.10", 53, "10.244.0.7", 53), true},
		{"NodePort to a deleted endpoint", udpFlow("192.0.2.1", 30053, "10.244.0.7", 53), true},
		{"NodePort to a serving endpoint", udpFlow("192.0.2.1", 30053, "10.244.0.5", 53), false},
		{"service without endpoints", udpFlow("10.96.0.30", 53, "10.244.0.9", 53), true},
		{"NodePort of a service without endpoints is left alone", udpFlow("192.0.2.1", 30054, "192.0.2.1", 30054), false},
		{"TCP service port is not cleaned", udpFlow("10.96.0.20", 53, "10.244.0.9", 53), false},
		{"unrelated flow", udpFlow("8.8.8.8", 53, "8.8.8.8", 53), false},
	}
	for _, tt := range tests {
		if got := f.MatchConntrackFlow(tt.flow); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
	tcp := udpFlow("10.96.0.10", 53, "10.244.0.7", 53)
	tcp.Forward.Protocol = unix.IPPROTO_TCP
	if f.MatchConntrackFlow(tcp) {
		t.Errorf("TCP flow matched")
	}
}
