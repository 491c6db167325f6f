// Package netnstest runs networking tests inside network namespaces the
// test creates, so that rules and traffic never touch the host's own
// network: the test's "node" is a fresh namespace with no link to the
// outside, its "pods" and "clients" are namespaces wired to it with veth
// pairs. Everything is deleted at the end, processes are stopped by PID.
package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	envNode   = "SKIFF_NETNS_NODE"
	envHelper = "SKIFF_NETNS_HELPER"
)

// Available reports why the tests cannot run here ("" if they can): they
// need root, ip and iptables-nft.
func Available() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, tool := range []string{"ip", "iptables-nft", "iptables-nft-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "needs " + tool
		}
	}
	if os.Getenv("SKIFF_SKIP_NETNS_TESTS") != "" {
		return "SKIFF_SKIP_NETNS_TESTS is set"
	}
	return ""
}

// Node is the namespace the test runs in.
type Node struct {
	t *testing.T
	// Name is the node namespace's name; further namespaces are named
	// Name + "-" + suffix.
	Name  string
	mu    sync.Mutex
	procs []*exec.Cmd
}

// Enter moves the test into its own network namespace. Outside (the
// normal `go test` run) it creates the namespace, runs this same test in
// it (the test binary again, under `ip netns exec`), removes every
// namespace it made and returns nil: the caller returns. Inside, it
// returns the Node.
func Enter(t *testing.T) *Node {
	t.Helper()
	if name := os.Getenv(envNode); name != "" {
		n := &Node{t: t, Name: name}
		t.Cleanup(n.stopAll)
		n.Run("ip", "link", "set", "lo", "up")
		return n
	}
	if why := Available(); why != "" {
		t.Skip("network namespace test skipped: " + why)
	}
	name := fmt.Sprintf("skiff-t%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	defer removeNamespaces(t, name)
	args := []string{"netns", "exec", name, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), envNode+"="+name)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test in network namespace %s failed: %v", name, err)
	}
	return nil
}

// removeNamespaces deletes the node namespace and every namespace named
// after it.
func removeNamespaces(t *testing.T, node string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Errorf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == node || strings.HasPrefix(f[0], node+"-")) {
			if out, err := exec.Command("ip", "netns", "del", f[0]).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", f[0], err, out)
			}
		}
	}
}

// Run runs a command in the node namespace and fails the test on error.
func (n *Node) Run(name string, args ...string) string {
	n.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NS is the full name of one of the test's other namespaces.
func (n *Node) NS(suffix string) string { return n.Name + "-" + suffix }

// AddBridge makes a bridge with the gateway address gwCIDR (the pods'
// default route), like the CNI bridge plugin's.
func (n *Node) AddBridge(name, gwCIDR string) {
	n.Run("ip", "link", "add", name, "type", "bridge")
	n.Run("ip", "addr", "add", gwCIDR, "dev", name)
	n.Run("ip", "link", "set", name, "up")
}

// AddPod makes namespace NS(pod) with eth0 at ipCIDR, wired to the node
// by the veth hostIf; with a bridge, hostIf is a hairpin port of it
// (gateway: the bridge's address); without one, hostIf gets gwCIDR.
func (n *Node) AddPod(pod, hostIf, bridge, ipCIDR, gwCIDR string) {
	ns := n.NS(pod)
	n.Run("ip", "netns", "add", ns)
	n.Run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", ns)
	if bridge != "" {
		n.Run("ip", "link", "set", hostIf, "master", bridge)
		n.Run("ip", "link", "set", hostIf, "type", "bridge_slave", "hairpin", "on")
	} else {
		n.Run("ip", "addr", "add", gwCIDR, "dev", hostIf)
	}
	n.Run("ip", "link", "set", hostIf, "up")
	n.Run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	n.Run("ip", "netns", "exec", ns, "ip", "addr", "add", ipCIDR, "dev", "eth0")
	n.Run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
	gw, _, _ := net.ParseCIDR(gwCIDR)
	n.Run("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", gw.String())
}

// Serve starts the test binary in namespace NS(pod) as a server that
// answers "<name> <client address>" on TCP ports (HTTP) and "<name>" on
// UDP ports.
func (n *Node) Serve(pod, name string, tcpPorts, udpPorts []int) {
	n.t.Helper()
	spec := "serve:" + name + ":" + joinInts(tcpPorts) + ":" + joinInts(udpPorts)
	cmd := exec.Command("ip", "netns", "exec", n.NS(pod), os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"="+spec)
	// ip execs the helper, which so inherits this: it dies with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start server in %s: %v", pod, err)
	}
	n.mu.Lock()
	n.procs = append(n.procs, cmd)
	n.mu.Unlock()
	// The helper prints "ready" once it listens.
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			n.t.Fatalf("server in %s: %v", pod, err)
		}
	case <-time.After(10 * time.Second):
		n.t.Fatalf("server in %s did not start", pod)
	}
}

// Fetch makes count HTTP GETs of url from namespace NS(pod) (or from the
// node when pod is ""), each on a new connection, and returns the answers
// ("ERR ..." for failures).
func (n *Node) Fetch(pod, url string, count int) []string {
	n.t.Helper()
	if pod == "" {
		return fetch(url, count)
	}
	cmd := exec.Command("ip", "netns", "exec", n.NS(pod), os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=fetch:"+strconv.Itoa(count)+":"+url)
	out, err := cmd.Output()
	if err != nil {
		n.t.Fatalf("fetch from %s: %v", pod, err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

func (n *Node) stopAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, cmd := range n.procs {
		// ip netns exec execs the helper, so this PID is the helper's.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	n.procs = nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func splitInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if x, err := strconv.Atoi(f); err == nil {
			out = append(out, x)
		}
	}
	return out
}

func fetch(url string, count int) []string {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	out := make([]string, 0, count)
	for i := 0; i < count; i++ {
		resp, err := client.Get(url)
		if err != nil {
			out = append(out, "ERR "+err.Error())
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			out = append(out, "ERR "+err.Error())
			continue
		}
		out = append(out, strings.TrimSpace(string(body)))
	}
	return out
}

// MaybeHelper runs the helper the environment asks for and exits; call
// it first in TestMain. Without the variable it returns at once.
func MaybeHelper() {
	spec := os.Getenv(envHelper)
	if spec == "" {
		return
	}
	parts := strings.SplitN(spec, ":", 2)
	switch parts[0] {
	case "serve":
		f := strings.SplitN(parts[1], ":", 3)
		serve(f[0], splitInts(f[1]), splitInts(f[2]))
	case "fetch":
		f := strings.SplitN(parts[1], ":", 2)
		count, _ := strconv.Atoi(f[0])
		for _, line := range fetch(f[1], count) {
			fmt.Println(line)
		}
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", spec)
	os.Exit(2)
}

func serve(name string, tcpPorts, udpPorts []int) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", name, r.RemoteAddr)
	})
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() { _ = http.Serve(l, handler) }()
	}
	for _, p := range udpPorts {
		c, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				_, addr, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo([]byte(name), addr)
			}
		}()
	}
	fmt.Println("ready")
	select {}
}
