// Package framework starts a real skiff binary for end-to-end tests and
// gives tests clients and kubectl pointed at it.
package framework

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Binary is the skiff binary under test (SKIFF_BIN, set by `make e2e`).
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Fatal("SKIFF_BIN is not set: run the end-to-end tests with `make e2e`")
	}
	return bin
}

// Server is a running `skiff server --disable-agent`.
type Server struct {
	t       testing.TB
	bin     string
	DataDir string
	Port    int
	args    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	// readyAfter is how long the last start took to /readyz.
	readyAfter time.Duration
}

// Option changes how the server is started.
type Option func(*Server)

// WithArgs adds command-line flags.
func WithArgs(args ...string) Option { return func(s *Server) { s.args = append(s.args, args...) } }

// StartServer starts skiff on a free loopback port with a fresh data dir and
// waits until it is ready. It is stopped when the test ends.
func StartServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), DataDir: t.TempDir(), Port: freePort(t)}
	for _, o := range opts {
		o(s)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server process and waits for readiness.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := os.OpenFile(filepath.Join(s.DataDir, "skiff.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	args := append([]string{"server", "--disable-agent", "--data-dir", s.DataDir,
		"--secure-port", strconv.Itoa(s.Port), "--bind-address", "127.0.0.1"}, s.args...)
	cmd := exec.Command(s.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout = log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd, s.log = cmd, log
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if strings.Contains(line, "API server ready") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(log, stderr)
	}()
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	s.done = done
	select {
	case <-ready:
		s.readyAfter = time.Since(start)
	case <-done:
		s.t.Fatalf("skiff exited before it was ready: %v\n%s", waitErr, s.tail())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		s.t.Fatalf("skiff not ready after 60s\n%s", s.tail())
	}
}

// ReadyAfter is how long the last start took until the server was ready.
func (s *Server) ReadyAfter() time.Duration { return s.readyAfter }

// Stop sends SIGTERM and waits for the process to end.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill sends SIGKILL (a crash) and waits for the process to end.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Errorf("skiff did not stop within 30s of %v; killing it", sig)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	if s.log != nil {
		s.log.Close()
	}
}

// Kubeconfig is the admin kubeconfig's path.
func (s *Server) Kubeconfig() string { return filepath.Join(s.DataDir, "admin.kubeconfig") }

// RESTConfig is an admin client configuration.
func (s *Server) RESTConfig() *rest.Config {
	s.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg
}

// Client is an admin clientset.
func (s *Server) Client() kubernetes.Interface {
	s.t.Helper()
	c, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *Server) tail() string {
	data, _ := os.ReadFile(filepath.Join(s.DataDir, "skiff.log"))
	lines := strings.Split(string(data), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// Kubectl runs kubectl (KUBECTL, else /usr/bin/kubectl) against the server.
func (s *Server) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	return s.run(ctx, KubectlBinary(), stdin, args...)
}

// KubectlNew runs kubectl v1.37 (`skiff kubectl`) against the server.
func (s *Server) KubectlNew(ctx context.Context, stdin string, args ...string) (string, error) {
	return s.run(ctx, s.bin, stdin, append([]string{"kubectl"}, args...)...)
}

func (s *Server) run(ctx context.Context, bin, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig(), "EDITOR=true", "KUBE_EDITOR=true")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// KubectlBinary is the stock kubectl tests use.
func KubectlBinary() string {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	return "/usr/bin/kubectl"
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
