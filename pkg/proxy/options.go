// Package proxy runs skiff's kube-proxy: informers on Services,
// EndpointSlices and this node, feeding the iptables proxier of each IP
// family (pkg/proxy/iptables). `skiff proxy` and `skiff agent` call Run.
package proxy

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
)

// Options are the proxy's settings. Defaults are upstream kube-proxy's
// (iptables mode) where upstream has one.
type Options struct {
	// Kubeconfig reaches the API server; ignored when Client is set.
	Kubeconfig string
	// Client is an existing client (for in-process callers such as the
	// agent).
	Client kubernetes.Interface
	// HostnameOverride is the node name; default: the hostname, lower case
	// (as the kubelet names its node).
	HostnameOverride string
	// NodeIPs are the node's addresses; default: the Node object's
	// InternalIPs.
	NodeIPs []string
	// ClusterCIDR is the pod network (comma-separated, one per family);
	// traffic from it counts as pod traffic.
	ClusterCIDR string
	// MasqueradeBit is the fwmark bit that marks packets for SNAT.
	MasqueradeBit int
	// MasqueradeAll SNATs all traffic to cluster IPs.
	MasqueradeAll bool
	// LocalhostNodePorts serves NodePorts on 127.0.0.1 (sets
	// net.ipv4.conf.all.route_localnet=1).
	LocalhostNodePorts bool
	// NodePortAddresses limits NodePorts to local addresses in these
	// CIDRs; empty: all local addresses.
	NodePortAddresses []string
	// MinSyncPeriod batches changes: at most one sync per period.
	MinSyncPeriod time.Duration
	// SyncPeriod is the longest time between syncs.
	SyncPeriod time.Duration
	// HealthzBindAddress serves /healthz and /livez; empty disables.
	HealthzBindAddress string
	// Cleanup removes the proxy's rules and exits.
	Cleanup bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		ClusterCIDR:        "10.244.0.0/16",
		MasqueradeBit:      14,
		LocalhostNodePorts: true,
		MinSyncPeriod:      time.Second,
		SyncPeriod:         30 * time.Second,
		HealthzBindAddress: "0.0.0.0:10256",
	}
}

// AddFlags adds the proxy's flags (upstream kube-proxy's names).
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server.")
	fs.StringVar(&o.HostnameOverride, "hostname-override", o.HostnameOverride, "Name of this node (default: the hostname in lower case).")
	fs.StringSliceVar(&o.NodeIPs, "node-ip", o.NodeIPs, "Addresses of this node (default: the Node's InternalIPs).")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "Pod network CIDR(s), comma-separated; traffic from it is not masqueraded.")
	fs.IntVar(&o.MasqueradeBit, "iptables-masquerade-bit", o.MasqueradeBit, "Bit of the fwmark that marks packets for SNAT (0-31).")
	fs.BoolVar(&o.MasqueradeAll, "masquerade-all", o.MasqueradeAll, "SNAT all traffic sent to cluster IPs.")
	fs.BoolVar(&o.LocalhostNodePorts, "iptables-localhost-nodeports", o.LocalhostNodePorts, "Serve NodePorts on 127.0.0.1 (sets net.ipv4.conf.all.route_localnet=1).")
	fs.StringSliceVar(&o.NodePortAddresses, "nodeport-addresses", o.NodePortAddresses, "CIDRs of the local addresses that serve NodePorts (default: all).")
	fs.DurationVar(&o.MinSyncPeriod, "iptables-min-sync-period", o.MinSyncPeriod, "Shortest time between two rule syncs; changes in between are applied together.")
	fs.DurationVar(&o.SyncPeriod, "iptables-sync-period", o.SyncPeriod, "Longest time between two rule syncs.")
	fs.StringVar(&o.HealthzBindAddress, "healthz-bind-address", o.HealthzBindAddress, "Address of the /healthz and /livez server; empty disables it.")
	fs.BoolVar(&o.Cleanup, "cleanup", o.Cleanup, "Remove the proxy's iptables rules and chains, then exit.")
}

// Validate checks the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.Client == nil && o.Kubeconfig == "" && !o.Cleanup {
		errs = append(errs, fmt.Errorf("--kubeconfig is required"))
	}
	if o.MasqueradeBit < 0 || o.MasqueradeBit > 31 {
		errs = append(errs, fmt.Errorf("--iptables-masquerade-bit %d is not in 0..31", o.MasqueradeBit))
	}
	for _, c := range splitList(o.ClusterCIDR) {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, fmt.Errorf("--cluster-cidr: %w", err))
		}
	}
	for _, c := range o.NodePortAddresses {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, fmt.Errorf("--nodeport-addresses: %w", err))
		}
	}
	for _, ip := range o.NodeIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", ip))
		}
	}
	if o.MinSyncPeriod < 0 || o.SyncPeriod <= 0 || o.MinSyncPeriod > o.SyncPeriod {
		errs = append(errs, fmt.Errorf("sync periods: need 0 <= --iptables-min-sync-period (%v) <= --iptables-sync-period (%v)", o.MinSyncPeriod, o.SyncPeriod))
	}
	return errs
}

// NodeName is the node this proxy serves.
func (o *Options) NodeName() (string, error) {
	if o.HostnameOverride != "" {
		return strings.ToLower(strings.TrimSpace(o.HostnameOverride)), nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("get hostname: %w", err)
	}
	return strings.ToLower(strings.TrimSpace(h)), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
