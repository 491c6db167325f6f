package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"$(A)":         "x",
		"$(A)-$(B)":    "x-y",
		"$$(A)":        "$(A)",
		"$(MISSING)":   "$(MISSING)",
		"$A":           "$A",
		"tail $(":      "tail $(",
		"$(A)$$$(B)":   "x$y",
		"no refs here": "no refs here",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServiceEnv(t *testing.T) {
	env := map[string]string{}
	addServiceEnv(env, &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-svc"}, Spec: v1.ServiceSpec{ClusterIP: "10.96.0.7",
		Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}, {Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}}}})
	want := map[string]string{
		"MY_SVC_SERVICE_HOST":      "10.96.0.7",
		"MY_SVC_SERVICE_PORT":      "80",
		"MY_SVC_SERVICE_PORT_HTTP": "80",
		"MY_SVC_SERVICE_PORT_DNS":  "53",
		"MY_SVC_PORT":              "tcp://10.96.0.7:80",
		"MY_SVC_PORT_80_TCP":       "tcp://10.96.0.7:80",
		"MY_SVC_PORT_80_TCP_PROTO": "tcp",
		"MY_SVC_PORT_80_TCP_PORT":  "80",
		"MY_SVC_PORT_80_TCP_ADDR":  "10.96.0.7",
		"MY_SVC_PORT_53_UDP":       "udp://10.96.0.7:53",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

func TestFormatMapAndFields(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"b": "2", "a": `q"x`}}}
	if got := formatMap(pod.Labels); got != "a=\"q\\\"x\"\nb=\"2\"" {
		t.Errorf("formatMap = %q", got)
	}
	for path, want := range map[string]string{"metadata.name": "p", "metadata.labels['b']": "2", "status.podIP": "10.0.0.1", "status.hostIPs": "1.1.1.1,2.2.2.2"} {
		got, err := podFieldValue(pod, path, []string{"1.1.1.1", "2.2.2.2"}, []string{"10.0.0.1"})
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := podFieldValue(pod, "spec.bogus", nil, nil); err == nil {
		t.Error("an unknown field path must fail")
	}
}
