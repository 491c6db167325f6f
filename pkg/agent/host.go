package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	"k8s.io/klog/v2"
)

// The sysctls the node needs, and nothing more: forwarding for pod ->
// service -> pod and hostPorts, and bridged traffic through iptables for
// service DNAT between pods on the bridge.
var sysctls = map[string]string{
	"net/ipv4/ip_forward":                 "1",
	"net/bridge/bridge-nf-call-iptables":  "1",
	"net/bridge/bridge-nf-call-ip6tables": "1",
}

func setSysctls() error {
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		// br_netfilter may be a module here.
		_ = exec.Command("modprobe", "br_netfilter").Run()
	}
	for key, value := range sysctls {
		path := filepath.Join("/proc/sys", key)
		if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == value {
			continue
		}
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			if strings.Contains(key, "bridge") {
				klog.InfoS("Cannot set sysctl; service traffic between pods may not work", "sysctl", key, "err", err)
				continue
			}
			return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
		}
		klog.InfoS("Set sysctl", "sysctl", key, "value", value)
	}
	return nil
}

// guardChains are the egress guard's chains for a bridge.
func guardChains(bridge string) (fwd, out string) {
	return "GUARD-FWD-" + bridge, "GUARD-OUT-" + bridge
}

// addEgressGuard rejects traffic from the pod bridge to anywhere off it
// except other pods of the cluster on this host (other agents' bridges,
// named skiff*),
// and packets to the service range that no DNAT rule translated (so they
// cannot follow the default route off the host).
func addEgressGuard(bridge, clusterCIDR, serviceCIDR string) error {
	fwd, out := guardChains(bridge)
	run := func(args ...string) error {
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	exists := func(chain string) bool { return exec.Command("iptables", "-S", chain).Run() == nil }
	if !exists(fwd) {
		if err := run("-N", fwd); err != nil {
			return err
		}
		if serviceCIDR != "" {
			if err := run("-A", fwd, "-d", serviceCIDR, "-j", "REJECT"); err != nil {
				return err
			}
		}
		if clusterCIDR != "" {
			// Only to another skiff bridge of this host: a cluster address
			// routed anywhere else is still off-host.
			if err := run("-A", fwd, "-i", bridge, "-o", "skiff+", "-d", clusterCIDR, "-j", "RETURN"); err != nil {
				return err
			}
		}
		if err := run("-A", fwd, "-i", bridge, "!", "-o", bridge, "-j", "REJECT"); err != nil {
			return err
		}
		if err := run("-I", "FORWARD", "-j", fwd); err != nil {
			return err
		}
	}
	if serviceCIDR != "" && !exists(out) {
		if err := run("-N", out); err != nil {
			return err
		}
		if err := run("-A", out, "-d", serviceCIDR, "-j", "REJECT"); err != nil {
			return err
		}
		if err := run("-I", "OUTPUT", "-j", out); err != nil {
			return err
		}
	}
	return nil
}

// removeAllPods stops and removes every sandbox through the CRI, so that
// CNI DEL runs (IPs, veths, hostport rules) and shims exit. It retries
// until the runtime lists none (it may still be restarting) or ctx ends.
func removeAllPods(ctx context.Context, rt internalapi.RuntimeService) {
	for {
		sandboxes, err := rt.ListPodSandbox(ctx, nil)
		if err == nil && len(sandboxes) == 0 {
			return
		}
		for _, sb := range sandboxes {
			if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
				klog.ErrorS(err, "Cannot stop pod sandbox", "id", sb.Id)
			}
			if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
				klog.ErrorS(err, "Cannot remove pod sandbox", "id", sb.Id)
			}
		}
		select {
		case <-ctx.Done():
			klog.ErrorS(err, "Pods left behind: the runtime did not remove them in time")
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// killLeftoverTasks kills the init process of every task containerd left
// in its state dir (its pid file says which), as a last resort after the
// runtime could not remove them; killing a pod's pause process ends its
// PID namespace.
func killLeftoverTasks(stateDir string) {
	pids, _ := filepath.Glob(filepath.Join(stateDir, "io.containerd.runtime.v2.task", "*", "*", "init.pid"))
	for _, f := range pids {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				klog.InfoS("Killed a container the runtime left behind", "pid", pid, "task", filepath.Dir(f))
			}
		}
	}
}

// cleanupHost removes what the agent added to the host: mounts under its
// directory, the bridge, the guard chains and the pod cgroup parent.
func cleanupHost(dir, bridge, cgroupParent string, guard bool) {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = exec.Command("umount", "-l", mounts[i]).Run()
	}
	if exec.Command("ip", "link", "show", bridge).Run() == nil {
		if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
			klog.InfoS("Cannot delete the bridge", "bridge", bridge, "err", err, "output", string(out))
		}
	}
	if guard {
		fwd, out := guardChains(bridge)
		for _, hc := range [][2]string{{"FORWARD", fwd}, {"OUTPUT", out}} {
			for exec.Command("iptables", "-D", hc[0], "-j", hc[1]).Run() == nil {
			}
			_ = exec.Command("iptables", "-F", hc[1]).Run()
			_ = exec.Command("iptables", "-X", hc[1]).Run()
		}
	}
	// containerd 1.6 always puts shim sockets there; a system containerd
	// may use it too, so only empty directories go.
	_ = os.Remove("/run/containerd/s")
	_ = os.Remove("/run/containerd")
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, root := range roots {
		d := filepath.Join(root, cgroupParent)
		if _, err := os.Stat(d); err != nil {
			continue
		}
		// Deepest first; only empty cgroups can go.
		var dirs []string
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}
