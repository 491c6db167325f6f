//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/test/e2e/framework"
)

// readinessGate holds a pod not ready until the test sets it.
const readinessGate corev1.PodConditionType = "e2e.skiff.dev/ready"

// testEndpointsListReadyPods: the Endpoints and EndpointSlices of a
// Service list exactly its ready pods (the not-ready one as not ready),
// and follow a pod that turns ready.
func testEndpointsListReadyPods(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "ctl-endpoints")
	// The not-ready pod waits on a readiness gate, which the simulated
	// node honours as the kubelet does.
	pod := func(name string, ready bool) string {
		gate := ""
		if !ready {
			gate = fmt.Sprintf("\n  readinessGates: [{conditionType: %q}]", readinessGate)
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: web}}
spec:
  containers: [{name: c, image: registry.k8s.io/pause:3.10, ports: [{name: http, containerPort: 8080}]}]%s
`, name, ns, gate)
	}
	manifest := pod("ready-1", true) + "---\n" + pod("ready-2", true) + "---\n" + pod("starting", false) + "---\n" + fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: %s}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`, ns) + "---\n" + fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: other, namespace: %s, labels: {app: other}}
spec:
  containers: [{name: c, image: registry.k8s.io/pause:3.10}]
`, ns)
	kubectlMust(t, s, manifest, "apply", "-f", "-")

	ipOf := func(name string) string {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.Status.PodIP == "" {
			return ""
		}
		return p.Status.PodIP
	}
	var want, wantNotReady []string
	eventuallyState(t, 30*time.Second, "pods running", func() (bool, string) {
		want = []string{ipOf("ready-1"), ipOf("ready-2")}
		wantNotReady = []string{ipOf("starting")}
		return want[0] != "" && want[1] != "" && wantNotReady[0] != "", fmt.Sprint(want, wantNotReady)
	})
	sort.Strings(want)

	eventuallyState(t, 30*time.Second, "Endpoints list the ready pods", func() (bool, string) {
		ep, err := c.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var ready, notReady []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				ready = append(ready, a.IP)
			}
			for _, a := range ss.NotReadyAddresses {
				notReady = append(notReady, a.IP)
			}
			if len(ss.Ports) != 1 || ss.Ports[0].Port != 8080 || ss.Ports[0].Name != "http" {
				return false, fmt.Sprintf("ports %+v", ss.Ports)
			}
		}
		sort.Strings(ready)
		return fmt.Sprint(ready) == fmt.Sprint(want) && fmt.Sprint(notReady) == fmt.Sprint(wantNotReady), fmt.Sprintf("ready %v not ready %v", ready, notReady)
	})
	sliceReady := func() (string, error) {
		slices, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return "", err
		}
		var ready, notReady []string
		for _, sl := range slices.Items {
			if sl.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" {
				return "", fmt.Errorf("slice %s managed by %q", sl.Name, sl.Labels[discoveryv1.LabelManagedBy])
			}
			for _, e := range sl.Endpoints {
				if *e.Conditions.Ready {
					ready = append(ready, e.Addresses[0])
				} else {
					notReady = append(notReady, e.Addresses[0])
				}
			}
		}
		sort.Strings(ready)
		return fmt.Sprintf("ready=%v notReady=%v", ready, notReady), nil
	}
	wantSlices := fmt.Sprintf("ready=%v notReady=%v", want, wantNotReady)
	eventuallyState(t, 30*time.Second, "EndpointSlices list the ready pods", func() (bool, string) {
		got, err := sliceReady()
		if err != nil {
			return false, err.Error()
		}
		return got == wantSlices, got
	})

	// kubectl shows the same.
	out := kubectlMust(t, s, "", "get", "endpoints", "web", "-n", ns, "-o", "jsonpath={.subsets[*].addresses[*].ip}")
	for _, ip := range want {
		if !strings.Contains(out, ip) {
			t.Errorf("kubectl get endpoints: %q, want %v", out, want)
		}
	}
	if strings.Contains(out, wantNotReady[0]) {
		t.Errorf("kubectl get endpoints lists the not-ready pod: %q", out)
	}

	// The starting pod's gate opens: it turns ready and joins the
	// addresses.
	p, err := c.CoreV1().Pods(ns).Get(ctx, "starting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: readinessGate, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := append(append([]string{}, want...), wantNotReady...)
	sort.Strings(all)
	eventuallyState(t, 30*time.Second, "the pod turned ready is listed", func() (bool, string) {
		got, err := sliceReady()
		if err != nil {
			return false, err.Error()
		}
		return got == fmt.Sprintf("ready=%v notReady=[]", all), got
	})
}
