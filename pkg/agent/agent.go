// Package agent is the node agent (`skiff agent`, and inside `skiff
// server`): it supervises a private containerd, writes the node's CNI
// network, sets the sysctls pods need, imports the node's images and runs
// the kubelet and its HTTPS server.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/component-base/version"
	criclient "k8s.io/cri-client/pkg"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/agent/cni"
	"github.com/skiff-project/skiff/pkg/agent/containerd"
	"github.com/skiff-project/skiff/pkg/image"
	"github.com/skiff-project/skiff/pkg/kubelet"
	"github.com/skiff-project/skiff/pkg/kubelet/server"
	"github.com/skiff-project/skiff/pkg/proxy"
)

// Options are the agent's settings (flags of `skiff agent`).
type Options struct {
	// DataDir holds the agent's state under DataDir/agent.
	DataDir string
	// Kubeconfig is the agent's API credentials.
	// TODO: per-node credentials (system:node:<name>) once the server
	// issues them; until then the admin kubeconfig is used.
	Kubeconfig string
	NodeName   string
	// NodeIP is the node's InternalIP; default: the default route's
	// interface address.
	NodeIP string
	// PodCIDR is used (and set on the Node) when the Node has none.
	PodCIDR string
	// Bridge is the CNI bridge's name.
	Bridge string
	// CgroupParent is the cgroupfs parent of pod cgroups.
	CgroupParent string
	KubeletPort  int
	// ClientCAFile verifies client certificates at the kubelet port.
	ClientCAFile string
	// ImagesDirs hold image tars imported at start (airgap images).
	ImagesDirs       []string
	ContainerdBinary string
	RuncBinary       string
	CNIBinDir        string
	SandboxImage     string
	ClusterDNS       []string
	ClusterDomain    string
	// EgressGuard rejects pod traffic leaving the host (test setups).
	EgressGuard bool
	// ServiceCIDR is also guarded against leaving the host.
	ServiceCIDR string
	// ClusterCIDR holds every node's pod CIDR: the egress guard lets pods
	// reach other nodes' pods (several agents on one host).
	ClusterCIDR string
	// StaticPodPath is a directory of static pod manifests ("" for none).
	StaticPodPath string
	// CleanupOnExit removes all pods, the bridge, guard chains and cgroups
	// when the agent stops (test setups; normally pods outlive the agent).
	CleanupOnExit bool
	// DisableProxy leaves out the service proxy (kube-proxy).
	DisableProxy bool
	// ProxyKubeconfig is the service proxy's API credentials
	// (system:kube-proxy, bound to system:node-proxier: it lists
	// EndpointSlices, which the node identity may not); default Kubeconfig.
	ProxyKubeconfig string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	host, _ := os.Hostname()
	return &Options{
		DataDir:          "/var/lib/skiff",
		NodeName:         strings.ToLower(host),
		PodCIDR:          "10.244.0.0/24",
		Bridge:           "skiff0",
		CgroupParent:     "skiff",
		KubeletPort:      10250,
		ContainerdBinary: "containerd",
		RuncBinary:       "/usr/sbin/runc",
		CNIBinDir:        "/usr/lib/cni",
		SandboxImage:     "registry.k8s.io/pause:3.10",
		ClusterDomain:    "cluster.local",
		ServiceCIDR:      "10.96.0.0/12",
		ClusterCIDR:      "10.244.0.0/16",
	}
}

// Validate checks the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("--node-name is required"))
	}
	if _, _, err := net.ParseCIDR(o.PodCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--pod-cidr: %w", err))
	}
	if o.KubeletPort <= 0 || o.KubeletPort > 65535 {
		errs = append(errs, fmt.Errorf("--kubelet-port %d out of range", o.KubeletPort))
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP", o.NodeIP))
	}
	if len(o.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("--bridge %q is longer than 15 characters", o.Bridge))
	}
	return errs
}

func (o *Options) agentDir() string { return filepath.Join(o.DataDir, "agent") }

// Run runs the agent until ctx ends.
func Run(ctx context.Context, o *Options) error {
	logger := klog.FromContext(ctx)
	dir := o.agentDir()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "skiff-kubelet/" + o.NodeName
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nodeIP := net.ParseIP(o.NodeIP)
	if nodeIP == nil {
		if nodeIP, err = utilnet.ChooseHostInterface(); err != nil {
			return fmt.Errorf("choose the node IP (set --node-ip): %w", err)
		}
	}
	podCIDR := o.PodCIDR
	if node, err := client.CoreV1().Nodes().Get(ctx, o.NodeName, metav1.GetOptions{}); err == nil && node.Spec.PodCIDR != "" {
		podCIDR = node.Spec.PodCIDR // node IPAM (or an earlier start) chose it
	}
	if err := setSysctls(); err != nil {
		return err
	}
	cniConfDir := filepath.Join(dir, "cni", "net.d")
	network := cni.Network{Name: "skiff", Bridge: o.Bridge, PodCIDR: podCIDR, DataDir: filepath.Join(dir, "cni", "networks")}
	if err := network.Write(cniConfDir); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	if o.EgressGuard {
		if err := addEgressGuard(o.Bridge, o.ClusterCIDR, o.ServiceCIDR); err != nil {
			return err
		}
	}
	sup, err := containerd.NewSupervisor(containerd.Config{
		Dir: filepath.Join(dir, "containerd"), Binary: o.ContainerdBinary, RuncBinary: o.RuncBinary,
		SandboxImage: o.SandboxImage, CNIBinDir: o.CNIBinDir, CNIConfDir: cniConfDir,
	})
	if err != nil {
		return err
	}
	// containerd outlives ctx until the cleanup is done.
	ctdCtx, stopContainerd := context.WithCancel(context.WithoutCancel(ctx))
	ctdDone := make(chan error, 1)
	go func() { ctdDone <- sup.Run(ctdCtx) }()
	defer func() {
		stopContainerd()
		<-ctdDone
	}()
	select {
	case <-sup.Ready():
	case err := <-ctdDone:
		return fmt.Errorf("containerd: %v", err)
	case <-time.After(60 * time.Second):
		return errors.New("containerd did not start within 60s")
	case <-ctx.Done():
		return nil
	}
	// DATA-DIR/agent/images is always searched too (airgap images dropped
	// there are imported at the next start).
	imagesDirs := append([]string{filepath.Join(dir, "images")}, o.ImagesDirs...)
	if err := os.MkdirAll(imagesDirs[0], 0o755); err != nil {
		return err
	}
	if err := importImages(ctx, sup.Socket(), imagesDirs, o.SandboxImage); err != nil {
		return err
	}
	endpoint := "unix://" + sup.Socket()
	rt, err := criclient.NewRemoteRuntimeServiceBuilder().WithEndpoint(endpoint).WithConnectionTimeout(10 * time.Second).Build(ctx)
	if err != nil {
		return fmt.Errorf("connect to the CRI runtime: %w", err)
	}
	images, err := criclient.NewRemoteImageServiceBuilder().WithEndpoint(endpoint).WithConnectionTimeout(10 * time.Second).Build(ctx)
	if err != nil {
		return fmt.Errorf("connect to the CRI image service: %w", err)
	}
	// Image volumes are mounted from containerd's snapshots directly (its
	// CRI has no image volumes); the connection lives as long as the node.
	views, err := image.Dial(sup.Socket())
	if err != nil {
		return err
	}
	defer views.Close()
	kl, err := kubelet.New(kubelet.Config{
		NodeName: o.NodeName, NodeIP: nodeIP, Client: client, Runtime: rt, Images: images, ImageViews: views,
		SandboxImage: o.SandboxImage, PinnedImages: views.PinnedNames,
		RootDir: filepath.Join(dir, "kubelet"), PodLogsDir: filepath.Join(dir, "pod-logs"),
		CgroupParent: o.CgroupParent, PodCIDR: podCIDR, Port: o.KubeletPort,
		ClusterDNS: o.ClusterDNS, ClusterDomain: o.ClusterDomain, Version: version.Get().GitVersion,
		StaticPodPath: o.StaticPodPath, ImageFsPath: filepath.Join(dir, "containerd", "root"),
	})
	if err != nil {
		return err
	}
	certFile, keyFile, err := servingCertificate(filepath.Join(dir, "pki"), o.NodeName, nodeIP)
	if err != nil {
		return err
	}
	srv, err := server.New(kl, server.Config{Port: o.KubeletPort, CertFile: certFile, KeyFile: keyFile, ClientCAFile: o.ClientCAFile, Client: client})
	if err != nil {
		return err
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Run(ctx) }()
	klErr := make(chan error, 1)
	go func() { klErr <- kl.Run(ctx) }()
	proxyErr := make(chan error, 1)
	if !o.DisableProxy {
		po := proxy.NewOptions()
		po.Kubeconfig, po.HostnameOverride, po.NodeIPs, po.ClusterCIDR = o.ProxyKubeconfig, o.NodeName, []string{nodeIP.String()}, o.ClusterCIDR
		if po.Kubeconfig == "" {
			po.Kubeconfig = o.Kubeconfig
		}
		go func() {
			if err := proxy.Run(ctx, po); err != nil {
				proxyErr <- fmt.Errorf("service proxy: %w", err)
			}
		}()
	}
	var runErr error
	select {
	case err := <-srvErr:
		runErr = err
	case err := <-klErr:
		runErr = err
	case err := <-proxyErr:
		runErr = err
	case <-ctx.Done():
	}
	if o.CleanupOnExit {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		removeAllPods(cctx, rt)
		cancel()
		logger.Info("Removed all pods (cleanup on exit)")
	}
	stopContainerd()
	<-ctdDone
	ctdDone <- nil // the deferred wait must not block
	if o.CleanupOnExit {
		if !o.DisableProxy {
			if err := proxy.Cleanup(); err != nil {
				logger.Error(err, "Removing the service proxy's rules")
			}
		}
		killLeftoverTasks(filepath.Join(dir, "containerd", "state"))
		cleanupHost(dir, o.Bridge, o.CgroupParent, o.EgressGuard)
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	return runErr
}

// importImages loads every tar in dirs whose images are missing, and
// checks that the sandbox image is there.
func importImages(ctx context.Context, socket string, dirs []string, sandboxImage string) error {
	c, err := image.Dial(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	have := map[string]bool{}
	names, err := c.Names(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		have[n] = true
	}
	for _, d := range dirs {
		tars, _ := filepath.Glob(filepath.Join(d, "*.tar"))
		for _, t := range tars {
			want, err := image.ArchiveNames(t)
			if err != nil {
				klog.FromContext(ctx).Error(err, "Skipping an image archive", "file", t)
				continue
			}
			missing := false
			for _, n := range want {
				missing = missing || !have[n]
			}
			if !missing {
				// Imported by an older skiff: make sure it is pinned.
				if err := c.Pin(ctx, want...); err != nil {
					return err
				}
				continue
			}
			imported, err := c.Import(ctx, t, klogWriter{})
			if err != nil {
				return fmt.Errorf("import %s: %w", t, err)
			}
			for _, n := range imported {
				have[n] = true
			}
		}
	}
	if !have[image.NormalizeName(sandboxImage)] {
		return fmt.Errorf("sandbox image %s is not imported: build it with hack/images/build.sh (make images) and pass its directory with --images-dir, put the tars in %s, or run `skiff image import`", sandboxImage, dirs[0])
	}
	return nil
}

type klogWriter struct{}

func (klogWriter) Write(p []byte) (int, error) {
	klog.InfoS("Image import", "progress", strings.TrimSpace(string(p)))
	return len(p), nil
}

// servingCertificate returns a self-signed serving certificate for the
// kubelet port (the API server does not verify kubelets' certificates
// unless told to, as upstream).
func servingCertificate(dir, nodeName string, ip net.IP) (string, string, error) {
	certFile, keyFile := filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	if _, err := os.Stat(certFile); err == nil {
		return certFile, keyFile, nil
	}
	cert, key, err := certutil.GenerateSelfSignedCertKey(nodeName, []net.IP{ip}, []string{nodeName})
	if err != nil {
		return "", "", fmt.Errorf("generate kubelet serving certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certFile, cert, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
