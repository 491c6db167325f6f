//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// TestServiceNetworking runs the service proxy inside a real node (skiff
// agent): a 3-replica busybox httpd Deployment behind Services, placed by
// the scheduler, its EndpointSlices written by the controller-manager. It
// runs in a network namespace of its own (framework.InNetns): traffic
// goes only to loopback, the namespace's node address and the test's
// pods, and its rules cannot meet another cluster's.
func TestServiceNetworking(t *testing.T) {
	if !framework.InNetns(t) {
		return
	}
	s := framework.StartServer(t, framework.WithArgs("--disable", "coredns"))
	a := framework.StartAgent(t, s, "--disable-kube-proxy=false")
	c := s.Client()
	ctx := context.Background()
	dumpOnFailure(t, s, a)
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

	// Three pods answering their name (the hostname) on port 80.
	apply(t, s, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
`)
	var pods []string
	waitUntil(t, 60*time.Second, "3 web pods running and ready", func() (bool, string) {
		list, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		var states []string
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && isReady(&p) {
				pods = append(pods, p.Name)
			}
			states = append(states, fmt.Sprintf("%s:%s", p.Name, p.Status.Phase))
		}
		return len(pods) == 3, strings.Join(states, " ")
	})
	sort.Strings(pods)
	all := strings.Join(pods, ",")

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
	waitAll := func(url string) {
		t.Helper()
		waitUntil(t, 20*time.Second, url+" reaches all three pods", func() (bool, string) {
			got := distinct(answers(url, 12))
			return got == all, got
		})
	}

	web := svc("web", func(*v1.Service) {})
	vip := "http://" + web.Spec.ClusterIP + "/"
	t.Run("ClusterIP from the host: 30 requests reach all three pods", func(t *testing.T) {
		waitAll(vip)
		if got := distinct(answers(vip, 30)); got != all {
			t.Errorf("reached %s, want %s", got, all)
		}
	})
	t.Run("ClusterIP from a pod, its own address included (hairpin)", func(t *testing.T) {
		out, err := s.Kubectl(ctx, "", "exec", pods[0], "--", "sh", "-c", "for i in $(seq 30); do timeout 2 wget -qO- "+vip+" || echo ERR; done")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got := distinct(strings.Fields(out)); got != all {
			t.Errorf("reached %s, want %s", got, all)
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
		if out, err := s.Kubectl(ctx, "", "scale", "deployment", "web", "--replicas=0"); err != nil {
			t.Fatalf("kubectl scale: %v: %s", err, out)
		}
		// The pods stop within their 1 s grace period; then the
		// controller empties the EndpointSlice and the proxy REJECTs (a
		// refusal, not a timeout) on its next sync.
		addr := web.Spec.ClusterIP + ":80"
		waitUntil(t, 10*time.Second, "connection refused", func() (bool, string) {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return false, "connected"
			}
			return strings.Contains(err.Error(), "connection refused"), err.Error()
		})
		t.Logf("refused %v after kubectl scale --replicas=0", time.Since(start).Round(time.Millisecond))
		for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/", port), fmt.Sprintf("http://%s:18080/", nodeIP)} {
			if _, err := (&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}).Get(url); err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("GET %s with no endpoints: %v, want connection refused", url, err)
			}
		}
	})

	t.Run("no KUBE- chain after the node stops", func(t *testing.T) {
		a.Stop()
		if rules := kubeRules(t); rules != "" {
			t.Errorf("KUBE- rules left:\n%s", rules)
		}
	})

	t.Run("skiff proxy --cleanup removes a killed proxy's rules", func(t *testing.T) {
		// A standalone `skiff proxy` for the (stopped) node, killed so it
		// cannot clean up after itself.
		bin := framework.Binary(t)
		proxy := exec.Command(bin, "proxy", "--kubeconfig", s.Kubeconfig(), "--hostname-override", a.NodeName,
			"--healthz-bind-address=", "--iptables-min-sync-period=100ms")
		logf, err := os.Create(filepath.Join(s.DataDir, "proxy.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		proxy.Stdout, proxy.Stderr = logf, logf
		if err := proxy.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		defer func() {
			if !killed {
				_ = proxy.Process.Kill()
				_ = proxy.Wait()
			}
		}()
		waitUntil(t, 20*time.Second, "standalone proxy's rules for the web Service", func() (bool, string) {
			return strings.Contains(kubeRules(t), web.Spec.ClusterIP), "no rule for " + web.Spec.ClusterIP
		})
		_ = proxy.Process.Kill()
		_ = proxy.Wait()
		killed = true
		if out, err := exec.Command(bin, "proxy", "--cleanup").CombinedOutput(); err != nil {
			t.Fatalf("skiff proxy --cleanup: %v: %s", err, out)
		}
		if rules := kubeRules(t); rules != "" {
			t.Errorf("KUBE- rules left after skiff proxy --cleanup:\n%s", rules)
		}
	})
}

// dumpOnFailure logs the cluster's pods and events and the agent's log
// when the test fails (the data dirs are gone afterwards).
func dumpOnFailure(t *testing.T, s *framework.Server, a *framework.Agent) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, args := range [][]string{{"get", "pods", "-A", "-o", "wide"}, {"get", "endpointslices", "-A"}, {"get", "events", "-A"}} {
			out, err := s.Kubectl(context.Background(), "", args...)
			t.Logf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("agent log:\n%s", a.Tail())
	})
}

// kubeRules returns the lines of iptables-nft-save that mention KUBE-.
func kubeRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-nft-save").Output()
	if err != nil {
		t.Fatalf("iptables-nft-save: %v", err)
	}
	var lines []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "KUBE-") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
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
