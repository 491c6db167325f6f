package pod

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

func TestContainerFor(t *testing.T) {
	one := testPod("p")
	none := testPod("p")
	none.Spec.Containers = nil
	many := testPod("p")
	many.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	many.Spec.Containers = append(many.Spec.Containers, corev1.Container{Name: "d"})
	many.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
	// kubectl's default-container annotation is the client's business.
	many.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "d"}

	tests := []struct {
		name      string
		pod       *corev1.Pod
		container string
		want      string
		wantErr   string
	}{
		{"only container", one, "", "c", ""},
		{"named container", one, "c", "c", ""},
		{"unknown container", one, "x", "", "container x is not valid for pod p"},
		{"no containers", none, "", "", "a container name must be specified for pod p"},
		{"several containers", many, "", "", "a container name must be specified for pod p, choose one of: [init c d debug]"},
		{"init container", many, "init", "init", ""},
		{"ephemeral container", many, "debug", "debug", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := containerFor(tt.container, tt.pod)
			if tt.wantErr != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want 400 %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("containerFor = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func node(name string, port int32, addresses ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = addresses
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func TestKubeletConnection(t *testing.T) {
	client := fake.NewClientset(
		node("internal", 10251,
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "internal.example"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}),
		node("external", 0,
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "external.example"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.2"}),
		node("hostname", 0, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "localhost"}),
		node("bare", 0),
	)
	l := newKubeletLocator(client, generic.KubeletClientConfig{})
	tests := []struct {
		node, host, port string
		check            func(error) bool
	}{
		{"internal", "10.0.0.1", "10251", nil},
		{"external", "203.0.113.2", "10250", nil},
		{"hostname", "localhost", "10250", nil},
		{"bare", "", "", apierrors.IsServiceUnavailable},
		{"missing", "", "", apierrors.IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			c, err := l.connection(context.Background(), tt.node)
			if tt.check != nil {
				if !tt.check(err) {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.host != tt.host || c.port != tt.port || c.scheme != "https" || c.transport == nil {
				t.Errorf("connection = %+v, want %s:%s", c, tt.host, tt.port)
			}
		})
	}
	if _, err := l.connection(context.Background(), "missing"); err.Error() != `nodes "missing" not found` {
		t.Errorf("missing node error = %q", err.Error())
	}
}

// pods is a getter over fixed pods.
type pods map[string]*corev1.Pod

func (p pods) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if pod, ok := p[name]; ok {
		return pod, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
}

func scheduledPod(name, nodeName string) *corev1.Pod {
	p := testPod(name)
	p.Spec.NodeName = nodeName
	return p
}

func TestLogLocation(t *testing.T) {
	client := fake.NewClientset(node("n1", 0, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}))
	r := &LogREST{store: pods{"p": scheduledPod("p", "n1"), "pending": testPod("pending")}, kubelet: newKubeletLocator(client, generic.KubeletClientConfig{Port: 10250})}
	opts := &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](10), Timestamps: true, SinceSeconds: ptr.To[int64](5), LimitBytes: ptr.To[int64](100), Previous: true, Stream: ptr.To(corev1.LogStreamAll)}
	loc, conn, err := r.logLocation(context.Background(), "p", opts, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://10.0.0.1:10250/containerLogs/default/p/c?follow=true&limitBytes=100&previous=true&sinceSeconds=5&stream=All&tailLines=10&timestamps=true"
	if loc.String() != want {
		t.Errorf("location = %s\nwant       %s", loc, want)
	}
	if conn == nil || conn.node != "n1" {
		t.Errorf("connection = %+v", conn)
	}
	// An unscheduled pod has no log yet: no location, no error.
	if loc, _, err := r.logLocation(context.Background(), "pending", &corev1.PodLogOptions{}, true); loc != nil || err != nil {
		t.Errorf("unscheduled pod: %v, %v", loc, err)
	}
}

func TestLogValidation(t *testing.T) {
	r := &LogREST{store: pods{"p": testPod("p")}, kubelet: newKubeletLocator(fake.NewClientset(), generic.KubeletClientConfig{})}
	_, err := r.Get(context.Background(), "p", &corev1.PodLogOptions{TailLines: ptr.To[int64](-1)})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "tailLines: Invalid value: -1: must be greater than or equal to 0") {
		t.Errorf("error = %v", err)
	}
}

func TestLogUnreachableKubeletIs503(t *testing.T) {
	// A port nothing listens on: the dial fails at once.
	listener := httptest.NewServer(http.NotFoundHandler())
	addr := listener.Listener.Addr().String()
	listener.Close()
	host, portString, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(portString)
	if err != nil {
		t.Fatal(err)
	}
	n := node("n1", int32(port), corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: host})
	r := &LogREST{store: pods{"p": scheduledPod("p", "n1")}, kubelet: newKubeletLocator(fake.NewClientset(n), generic.KubeletClientConfig{})}
	obj, err := r.Get(context.Background(), "p", &corev1.PodLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = obj.(*logStreamer).InputStream(context.Background(), "v1", "text/plain")
	if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), `error trying to reach the kubelet of node "n1" at `+addr) {
		t.Errorf("error = %v, want a 503 naming the kubelet", err)
	}
}

func TestStreamLocations(t *testing.T) {
	client := fake.NewClientset(node("n1", 10250, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}))
	s := streamREST{store: pods{"p": scheduledPod("p", "n1"), "pending": testPod("pending")}, kubelet: newKubeletLocator(client, generic.KubeletClientConfig{})}

	exec := &corev1.PodExecOptions{Stdin: true, Stdout: true, Stderr: true, TTY: true, Command: []string{"sh", "-c", "echo hi"}}
	loc, _, err := s.streamLocation(context.Background(), "p", "", "exec", execQuery(exec))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://10.0.0.1:10250/exec/default/p/c?command=sh&command=-c&command=echo+hi&error=1&input=1&output=1&tty=1"
	if loc.String() != want {
		t.Errorf("exec location = %s\nwant            %s", loc, want)
	}

	loc, _, err = s.streamLocation(context.Background(), "p", "c", "attach", streamQuery(false, true, false, false))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://10.0.0.1:10250/attach/default/p/c?output=1"; loc.String() != want {
		t.Errorf("attach location = %s, want %s", loc, want)
	}

	_, _, err = s.streamLocation(context.Background(), "pending", "", "exec", nil)
	if !apierrors.IsBadRequest(err) || err.Error() != "pod pending does not have a host assigned" {
		t.Errorf("unscheduled pod: %v", err)
	}
	_, _, err = s.streamLocation(context.Background(), "p", "nope", "exec", nil)
	if !apierrors.IsBadRequest(err) || err.Error() != "container nope is not valid for pod p" {
		t.Errorf("unknown container: %v", err)
	}
}

func TestPodLocation(t *testing.T) {
	withIP := testPod("p")
	withIP.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	withIP.Status.PodIPs = []corev1.PodIP{{IP: "10.1.0.5"}}
	v6 := testPod("v6")
	v6.Status.PodIPs = []corev1.PodIP{{IP: "fd00::5"}}
	noIP := testPod("noip")
	store := pods{"p": withIP, "v6": v6, "noip": noIP}

	tests := []struct {
		id, want string
		check    func(error) bool
	}{
		{"p", "//10.1.0.5:8080", nil},
		{"p:80", "//10.1.0.5:80", nil},
		{"https:p:443", "https://10.1.0.5:443", nil},
		{"v6", "//[fd00::5]", nil},
		{"noip", "", apierrors.IsBadRequest},
		{"missing", "", apierrors.IsNotFound},
		{"a:b:c:d", "", apierrors.IsBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			loc, _, err := podLocation(context.Background(), store, nil, tt.id)
			if tt.check != nil {
				if !tt.check(err) {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if err != nil || loc.String() != tt.want {
				t.Errorf("location = %v, %v; want %s", loc, err, tt.want)
			}
		})
	}
}

// recordingResponder records what a handler answers through the API.
type recordingResponder struct{ err error }

func (r *recordingResponder) Object(statusCode int, obj runtime.Object) {}
func (r *recordingResponder) Error(err error)                           { r.err = err }

func TestReachableFirst(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := down.Listener.Addr().String()
	down.Close()

	for _, tt := range []struct {
		name     string
		addr     string
		wantNext bool
	}{
		{"reachable kubelet", up.Listener.Addr().String(), true},
		{"unreachable kubelet", downAddr, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host, port, _ := strings.Cut(tt.addr, ":")
			conn := &kubeletConnection{node: "n1", host: host, port: port}
			responder := &recordingResponder{}
			called := false
			next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
			reachableFirst(next, conn, responder).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			if called != tt.wantNext {
				t.Errorf("next called = %v, want %v", called, tt.wantNext)
			}
			if tt.wantNext != (responder.err == nil) {
				t.Errorf("responder error = %v", responder.err)
			}
			if !tt.wantNext && !apierrors.IsServiceUnavailable(responder.err) {
				t.Errorf("error = %v, want 503", responder.err)
			}
		})
	}
}
