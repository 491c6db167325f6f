package main

import (
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/agent"
)

func newAgentCommand() *cobra.Command {
	o := agent.NewOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node: kubelet over a supervised private containerd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Kubeconfig == "" {
				o.Kubeconfig = filepath.Join(o.DataDir, "admin.kubeconfig")
			}
			if o.ClientCAFile == "" {
				o.ClientCAFile = filepath.Join(o.DataDir, "tls", "ca.crt")
			}
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			return agent.Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "Directory for the agent's state (DATA-DIR/agent: containerd, volumes, logs).")
	// TODO: per-node credentials (system:node:<name>) once the server
	// issues them; the admin kubeconfig is the default until then.
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server (default DATA-DIR/admin.kubeconfig).")
	fs.StringVar(&o.ProxyKubeconfig, "proxy-kubeconfig", o.ProxyKubeconfig, "Kubeconfig of the service proxy, with system:node-proxier rights (default: --kubeconfig).")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA that signs client certificates accepted on the kubelet port (default DATA-DIR/tls/ca.crt).")
	addAgentFlags(fs, o)
	return cmd
}

// addAgentFlags are the node flags `skiff agent` and `skiff server` share.
func addAgentFlags(fs *pflag.FlagSet, o *agent.Options) {
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "Name of this node.")
	fs.StringVar(&o.NodeIP, "node-ip", o.NodeIP, "InternalIP of this node (default: the address of the default route's interface).")
	fs.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "Pod subnet of this node, used when the Node has no spec.podCIDR.")
	fs.StringVar(&o.Bridge, "bridge", o.Bridge, "Name of the pods' Linux bridge.")
	fs.StringVar(&o.CgroupParent, "cgroup-parent", o.CgroupParent, "cgroupfs parent of pod cgroups.")
	fs.IntVar(&o.KubeletPort, "kubelet-port", o.KubeletPort, "HTTPS port of the kubelet (logs, exec, attach, port-forward, stats).")
	fs.StringSliceVar(&o.ImagesDirs, "images-dir", o.ImagesDirs, "Directories of image tars to import at start, besides DATA-DIR/agent/images (hack/images/build.sh makes pause and busybox).")
	fs.StringVar(&o.ContainerdBinary, "containerd", o.ContainerdBinary, "containerd executable.")
	fs.StringVar(&o.RuncBinary, "runc", o.RuncBinary, "runc executable.")
	fs.StringVar(&o.CNIBinDir, "cni-bin-dir", o.CNIBinDir, "Directory of the CNI plugins.")
	fs.StringVar(&o.SandboxImage, "pause-image", o.SandboxImage, "Pod sandbox image; it must be imported (nothing is pulled).")
	fs.StringSliceVar(&o.ClusterDNS, "cluster-dns", o.ClusterDNS, "DNS server IPs for pods with dnsPolicy ClusterFirst (none: the host's resolv.conf).")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "Cluster DNS domain.")
	fs.StringVar(&o.StaticPodPath, "pod-manifest-path", o.StaticPodPath, "Directory of static pod manifests, run without the API server and mirrored into it.")
	fs.BoolVar(&o.DisableProxy, "disable-kube-proxy", o.DisableProxy, "Do not run the service proxy (kube-proxy) on this node.")
	fs.BoolVar(&o.EgressGuard, "egress-guard", o.EgressGuard, "Reject pod traffic that would leave this host (test setups).")
	fs.BoolVar(&o.CleanupOnExit, "cleanup-on-exit", o.CleanupOnExit, "Remove all pods, the bridge, guard rules and pod cgroups on exit (test setups).")
	_ = fs.MarkHidden("egress-guard")
	_ = fs.MarkHidden("cleanup-on-exit")
}
