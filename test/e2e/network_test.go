//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestServiceNetworking runs the service proxy inside a real node (skiff
// agent): three busybox httpd pods behind Services. Traffic goes only to
// loopback, this host's own address and the pods of the test's node; the
// agent's egress guard keeps pod and service-range traffic on the host.
func TestServiceNetworking(t *testing.T) {
	framework.RequireNode(t)
	if out, _ := exec.Command("iptables-nft-save").Output(); strings.Contains(string(out), ":KUBE-SERVICES") {
		t.Skip("another service proxy runs on this host (KUBE-SERVICES exists); one at a time")
	}
	s := framework.StartServer(t)
	a := framework.StartAgent(t, s, "--disable-kube-proxy=false")
	c := s.Client()
	ctx := context.Background()
	waitNodeReady(t, c, a.NodeName)
	node, err := c.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nodeIP string
	for _, addr := range node.Status.Addresses {
		if addr.Type == v1.NodeInternalIP {
			nodeIP = addr.Address
		}
	}

	// Three pods answering their name on port 80 (placed on the node
	// directly, and their EndpointSlices written by the test: until the
	// scheduler and the EndpointSlice controller land on main).
	var podIPs []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		apply(t, s, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: web}}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
`, name, a.NodeName))
	}
	for i := 1; i <= 3; i++ {
		podIPs = append(podIPs, waitRunning(t, c, fmt.Sprintf("web-%d", i), 60*time.Second).Status.PodIP)
	}
	svc := func(name string, mutate func(*v1.Service)) *v1.Service {
		t.Helper()
		obj := &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80)}},
			},
		}
		mutate(obj)
		created, err := c.CoreV1().Services("default").Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setEndpoints(t, c, name, podIPs, a.NodeName)
		return created
	}
	answers := func(url string, n int) []string {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
		var got []string
		for i := 0; i < n; i++ {
			resp, err := client.Get(url)
			if err != nil {
				got = append(got, "ERR")
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = append(got, strings.TrimSpace(string(b)))
		}
		return got
	}
	distinct := func(list []string) string {
		set := map[string]bool{}
		for _, s := range list {
			set[s] = true
		}
		var out []string
		for s := range set {
			out = append(out, s)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	const all = "web-1,web-2,web-3"
	waitAll := func(url string) {
		t.Helper()
		waitUntil(t, 15*time.Second, url+" reaches all three pods", func() (bool, string) {
			got := distinct(answers(url, 12))
			return got == all, got
		})
	}

	web := svc("web", func(*v1.Service) {})
	vip := "http://" + web.Spec.ClusterIP + "/"
	t.Run("ClusterIP from the host: 30 requests reach all three pods", func(t *testing.T) {
		waitAll(vip)
		if got := distinct(answers(vip, 30)); got != all {
			t.Errorf("reached %s", got)
		}
	})
	t.Run("ClusterIP from a pod, its own address included (hairpin)", func(t *testing.T) {
		out, err := s.Kubectl(ctx, "", "exec", "web-1", "--", "sh", "-c", "for i in $(seq 30); do timeout 2 wget -qO- "+vip+" || echo ERR; done")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got := distinct(strings.Fields(out)); got != all {
			t.Errorf("reached %s", got)
		}
	})

	np := svc("web-np", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeNodePort })
	port := np.Spec.Ports[0].NodePort
	t.Run("NodePort on the node IP and on 127.0.0.1", func(t *testing.T) {
		waitAll(fmt.Sprintf("http://%s:%d/", nodeIP, port))
		waitAll(fmt.Sprintf("http://127.0.0.1:%d/", port))
	})

	svc("web-lb", func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].Port = 18080
	})
	t.Run("LoadBalancer gets the node address, which answers", func(t *testing.T) {
		var ingress string
		waitUntil(t, 15*time.Second, "load-balancer ingress", func() (bool, string) {
			lb, err := c.CoreV1().Services("default").Get(ctx, "web-lb", metav1.GetOptions{})
			if err != nil || len(lb.Status.LoadBalancer.Ingress) == 0 {
				return false, fmt.Sprint(err)
			}
			ingress = lb.Status.LoadBalancer.Ingress[0].IP
			return true, ""
		})
		if ingress != nodeIP {
			t.Errorf("ingress %s, want the node IP %s", ingress, nodeIP)
		}
		waitAll(fmt.Sprintf("http://%s:18080/", ingress))
	})

	sticky := svc("web-sticky", func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	})
	t.Run("ClientIP affinity pins the client to one pod", func(t *testing.T) {
		url := "http://" + sticky.Spec.ClusterIP + "/"
		waitUntil(t, 15*time.Second, "sticky service answers", func() (bool, string) {
			got := answers(url, 1)[0]
			return got != "ERR", got
		})
		if got := distinct(answers(url, 20)); strings.Contains(got, ",") || got == "ERR" {
			t.Errorf("20 requests reached %s, want one pod", got)
		}
	})

	t.Run("scaled to 0: refused at once", func(t *testing.T) {
		start := time.Now()
		setEndpoints(t, c, "web", nil, a.NodeName)
		addr := web.Spec.ClusterIP + ":80"
		waitUntil(t, 5*time.Second, "connection refused", func() (bool, string) {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return false, "connected"
			}
			return strings.Contains(err.Error(), "connection refused"), err.Error()
		})
		t.Logf("refused %v after the endpoints went", time.Since(start).Round(time.Millisecond))
	})

	t.Run("no KUBE- chain after the node stops", func(t *testing.T) {
		a.Stop()
		out, err := exec.Command("iptables-nft-save").Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "KUBE-") {
			t.Errorf("KUBE- rules left:\n%s", out)
		}
	})
}

// setEndpoints writes the Service's EndpointSlice (ready endpoints on
// node).
func setEndpoints(t *testing.T, c kubernetes.Interface, svc string, ips []string, node string) {
	t.Helper()
	slice := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-e2e", Labels: map[string]string{discovery.LabelServiceName: svc}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(v1.ProtocolTCP)}},
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discovery.Endpoint{Addresses: []string{ip}, NodeName: ptr.To(node), Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}})
	}
	slices := c.DiscoveryV1().EndpointSlices("default")
	ctx := context.Background()
	if old, err := slices.Get(ctx, slice.Name, metav1.GetOptions{}); err == nil {
		slice.ResourceVersion = old.ResourceVersion
		if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond every 200 ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
}
