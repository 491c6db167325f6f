package framework

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Agent is a running `skiff agent` (kubelet over its own containerd)
// joined to a Server.
type Agent struct {
	t        testing.TB
	NodeName string
	Port     int
	Bridge   string
	PodCIDR  string
	// Dir is the agent's data dir (its state is Dir/agent).
	Dir     string
	cgroups string
	cmd     *exec.Cmd
	done    chan struct{}
	log     *os.File
}

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
)

// Images returns a directory with the pause and busybox image tars
// (SKIFF_IMAGES, or built once with hack/images/build.sh).
func Images(t testing.TB) string {
	t.Helper()
	imagesOnce.Do(func() {
		if d := os.Getenv("SKIFF_IMAGES"); d != "" {
			imagesDir = d
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		dir, err := os.MkdirTemp("", "skiff-e2e-images-")
		if err != nil {
			imagesErr = err
			return
		}
		out, err := exec.Command("bash", filepath.Join(root, "hack", "images", "build.sh"), dir).CombinedOutput()
		if err != nil {
			imagesErr = fmt.Errorf("hack/images/build.sh: %v\n%s", err, out)
			return
		}
		imagesDir = dir
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imagesDir
}

// RequireNode skips the test where a node cannot run: not root, or no
// containerd (hack/install-deps.sh installs it).
func RequireNode(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("running pods needs root")
	}
	for _, bin := range []string{"containerd", "runc", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (hack/install-deps.sh)", bin)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("CNI plugins not installed (hack/install-deps.sh)")
	}
}

// StartAgent starts `skiff agent` against s with its own node name,
// bridge, pod CIDR, kubelet port and cgroup parent; the egress guard keeps
// pod traffic on this host. Stopping it removes its pods and everything
// it added to the host.
func StartAgent(t testing.TB, s *Server, extraArgs ...string) *Agent {
	t.Helper()
	RequireNode(t)
	if _, err := s.Client().CoreV1().Nodes().List(context.Background(), metav1.ListOptions{Limit: 1}); err != nil {
		t.Skipf("the API server cannot list nodes (%v): no agent can join", err)
	}
	images := Images(t)
	n, _ := rand.Int(rand.Reader, big.NewInt(90))
	id := int(n.Int64()) + 100
	// A short data dir: containerd's socket path must stay under 100 bytes.
	dir, err := os.MkdirTemp("/tmp", "skiff-node-")
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{t: t, NodeName: fmt.Sprintf("node-%d", id), Port: freePort(t), Bridge: fmt.Sprintf("skiffe2e%d", id),
		PodCIDR: fmt.Sprintf("10.244.%d.0/24", id), Dir: dir, cgroups: fmt.Sprintf("skiff-e2e-%d", id)}
	// The agent reads the server's admin kubeconfig and CA.
	args := append([]string{"agent", "--data-dir", dir, "--kubeconfig", s.Kubeconfig(),
		"--client-ca-file", filepath.Join(s.DataDir, "tls", "ca.crt"),
		"--node-name", a.NodeName, "--kubelet-port", strconv.Itoa(a.Port), "--bridge", a.Bridge,
		"--pod-cidr", a.PodCIDR, "--cgroup-parent", a.cgroups, "--images-dir", images,
		"--egress-guard", "--cleanup-on-exit",
		// The service proxy edits the host's iptables; tests that want
		// it pass --disable-kube-proxy=false (only one at a time per host).
		"--disable-kube-proxy"}, extraArgs...)
	a.log, err = os.Create(filepath.Join(s.DataDir, "agent-"+a.NodeName+".log"))
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(s.bin, args...)
	stderr, _ := a.cmd.StderrPipe()
	a.cmd.Stdout = a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(a.log, line)
			if strings.Contains(line, "Kubelet started") {
				once.Do(func() { close(started) })
			}
		}
	}()
	a.done = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(a.Stop)
	select {
	case <-started:
	case <-a.done:
		t.Fatalf("skiff agent exited:\n%s", a.Tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("skiff agent not started after 60s:\n%s", a.Tail())
	}
	return a
}

// Stop stops the agent (SIGTERM; it removes its pods and host state).
func (a *Agent) Stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(90 * time.Second):
		a.t.Errorf("skiff agent did not stop within 90s; killing it")
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
	a.log.Close()
	// Nothing of the node may stay on the host.
	if _, err := os.Stat(filepath.Join(CgroupRoot(), a.cgroups)); err == nil {
		a.t.Errorf("agent %s left its pod cgroups behind (/sys/fs/cgroup/*/%s)", a.NodeName, a.cgroups)
	}
	if exec.Command("ip", "link", "show", a.Bridge).Run() == nil {
		a.t.Errorf("agent %s left its bridge %s behind", a.NodeName, a.Bridge)
	}
	if exec.Command("iptables", "-S", "GUARD-FWD-"+a.Bridge).Run() == nil {
		a.t.Errorf("agent %s left its egress guard behind", a.NodeName)
	}
	_ = os.RemoveAll(a.Dir)
}

// PID is the agent's process id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// ContainerdPID is the pid of the agent's containerd child.
func (a *Agent) ContainerdPID() int {
	data, err := os.ReadFile(filepath.Join(a.Dir, "agent", "containerd", "containerd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// StateDir is containerd's state dir (task bundles, pod netns).
func (a *Agent) StateDir() string { return filepath.Join(a.Dir, "agent", "containerd", "state") }

// CgroupParent is the agent's pod cgroup parent.
func (a *Agent) CgroupParent() string { return a.cgroups }

// RSS is the agent process's resident memory in bytes.
func (a *Agent) RSS() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.PID()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Tail is the end of the agent's log.
func (a *Agent) Tail() string {
	data, _ := os.ReadFile(a.log.Name())
	lines := strings.Split(string(data), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// CgroupRoot is where pod cgroups show: the memory hierarchy with cgroup
// v1, the unified hierarchy with v2.
func CgroupRoot() string {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return "/sys/fs/cgroup/memory"
	}
	return "/sys/fs/cgroup"
}

// CPUSeconds is the CPU time (user+system) the agent and its containerd
// have used so far.
func (a *Agent) CPUSeconds() (agent, containerd float64) {
	return procCPU(a.PID()), procCPU(a.ContainerdPID())
}

func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}
