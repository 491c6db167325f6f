package kubelet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProbeCounter(t *testing.T) {
	c := probeCounter{success: 2, failure: 3}
	steps := []struct {
		ok              bool
		result, decided bool
	}{
		{true, true, false}, {true, true, true}, // two successes in a row
		{false, false, false}, {false, false, false}, {true, true, false}, // a success resets the failures
		{false, false, false}, {false, false, false}, {false, false, true},
	}
	for i, s := range steps {
		result, decided := c.observe(s.ok)
		if result != s.result || decided != s.decided {
			t.Fatalf("step %d (ok=%v): got %v/%v, want %v/%v", i, s.ok, result, decided, s.result, s.decided)
		}
	}
}

func hostPort(t *testing.T, rawURL string) (string, int) {
	u, _ := url.Parse(rawURL)
	host, port, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(port)
	return host, n
}

func TestProbeOnce(t *testing.T) {
	kl, rt, _, _ := newFakeKubelet(t)
	m := kl.probes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "kube-probe/1.37" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusOK)
		case "/redirect":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.URL)
	c := &v1.Container{Name: "c", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	pod := testPod(v1.RestartPolicyAlways, "c")
	ctx := context.Background()
	httpProbe := func(path string, p intstr.IntOrString) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: path, Port: p}}}
	}
	for _, tt := range []struct {
		name    string
		probe   *v1.Probe
		ok      bool
		message string
	}{
		{"http 200", httpProbe("/healthz", intstr.FromInt32(int32(port))), true, ""},
		{"http named port", httpProbe("/healthz", intstr.FromString("http")), true, ""},
		{"http redirect on the same host", httpProbe("/redirect", intstr.FromInt32(int32(port))), true, ""},
		{"http 500", httpProbe("/fail", intstr.FromInt32(int32(port))), false, "HTTP probe failed with statuscode: 500"},
		{"tcp open", &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}, true, ""},
		{"tcp closed", &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(1)}}}, false, "connection refused"},
		{"exec ok", &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}, true, ""},
	} {
		ok, msg := m.probeOnce(ctx, pod, c, tt.probe, "cid", []string{ip}, time.Second)
		if ok != tt.ok || !strings.Contains(msg, tt.message) {
			t.Errorf("%s: ok=%v msg=%q, want ok=%v containing %q", tt.name, ok, msg, tt.ok, tt.message)
		}
	}
	rt.InjectError("ExecSync", errors.New("rpc error: code = Unknown desc = container is not running"))
	if ok, msg := m.probeOnce(ctx, pod, c, &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"x"}}}}, "cid", []string{ip}, time.Second); ok || msg != "container is not running" {
		t.Errorf("exec error: ok=%v msg=%q", ok, msg)
	}
}

func TestRunHook(t *testing.T) {
	kl, _, _, _ := newFakeKubelet(t)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/stop" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.URL)
	pod := testPod(v1.RestartPolicyAlways, "c")
	c := &pod.Spec.Containers[0]
	ctx := context.Background()
	if _, err := kl.runHook(ctx, pod, c, "cid", []string{ip}, &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Path: "/stop", Port: intstr.FromInt32(int32(port))}}, 5); err != nil || hits != 1 {
		t.Errorf("httpGet hook: %v, %d hits", err, hits)
	}
	if _, err := kl.runHook(ctx, pod, c, "cid", []string{ip}, &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Path: "/nope", Port: intstr.FromInt32(int32(port))}}, 5); err == nil {
		t.Error("a 404 from an httpGet hook must fail it")
	}
	// A sleep hook sleeps until its deadline (the grace period) at most.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := kl.runHook(short, pod, c, "cid", nil, &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 30}}, 30); err != nil {
		t.Errorf("sleep hook: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("sleep hook returned after %v, want at its 50ms deadline", d)
	}
}
