package framework

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	envNetns   = "SKIFF_E2E_NETNS"
	envCgroups = "SKIFF_E2E_NETNS_CGROUPS"
)

// InNetns runs the calling test in a network namespace of its own whose
// only link is an "uplink" (10.123.0.2/24, the default route) into a
// namespace with no address or route: the test's server, node, service
// proxy and pods see a normal host, but nothing they send off-host leaves
// the machine, and their iptables rules and service IPs cannot meet
// another cluster's on the same host.
//
// Outside the namespace it runs this same test in a fresh one (the test
// binary again, under `ip netns exec`), deletes the namespace and returns
// false: the caller returns. Inside it returns true.
func InNetns(t *testing.T) bool {
	t.Helper()
	if name := os.Getenv(envNetns); name != "" {
		// `ip netns exec` gives the test a mount namespace with a fresh
		// /sys (so that /sys/class/net shows the namespace's links):
		// the cgroup hierarchies the node's runc needs are mounted again.
		if err := mountCgroups(os.Getenv(envCgroups)); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			// The uplink's other end is in a namespace with no address and
			// no route: whatever reaches it is dropped there.
			{"link", "add", "uplink0", "type", "veth", "peer", "name", "sink0", "netns", name + "-sink"},
			{"-n", name + "-sink", "link", "set", "sink0", "up"},
			{"addr", "add", "10.123.0.2/24", "dev", "uplink0"},
			{"link", "set", "uplink0", "up"},
			{"route", "add", "default", "via", "10.123.0.1", "dev", "uplink0"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	RequireNode(t)
	name := fmt.Sprintf("skiff-e2e-%d", os.Getpid())
	for _, ns := range []string{name, name + "-sink"} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		defer func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}()
	}
	args := []string{"netns", "exec", name, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command("ip", args...)
	mounts, err := cgroupMounts()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), envNetns+"="+name, envCgroups+"="+mounts)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test in network namespace %s failed: %v", name, err)
	}
	return false
}

// cgroupMounts lists this mount namespace's cgroup mounts (and the tmpfs
// holding cgroup v1 hierarchies), one "mountpoint fstype options" a line,
// parents first.
func cgroupMounts() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		point, fstype := f[4], g[0]
		if point != "/sys/fs/cgroup" && !strings.HasPrefix(point, "/sys/fs/cgroup/") {
			continue
		}
		if fstype != "cgroup" && fstype != "cgroup2" && fstype != "tmpfs" {
			continue
		}
		out = append(out, point+" "+fstype+" "+g[2])
	}
	return strings.Join(out, "\n"), nil
}

// mountCgroups mounts what cgroupMounts listed: the same hierarchies, as
// mounting a cgroup hierarchy again shows the existing one.
func mountCgroups(list string) error {
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		point, fstype, opts := f[0], f[1], f[2]
		if err := os.MkdirAll(point, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", point, err)
		}
		// Keep only the data options (subsystems, name=, mode=...): the
		// mount flags (rw, nosuid...) are not data.
		var data []string
		for _, o := range strings.Split(opts, ",") {
			if o != "rw" && o != "ro" {
				data = append(data, o)
			}
		}
		if err := syscall.Mount(fstype, point, fstype, 0, strings.Join(data, ",")); err != nil {
			return fmt.Errorf("mount %s %s (%s): %w", fstype, point, opts, err)
		}
	}
	return nil
}
