package apiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/capabilities"

	"github.com/skiff-project/skiff/pkg/etcd"
)

// Run starts etcd (unless external), prepares certificates and serves the
// API until ctx is cancelled; etcd stops last. ready, if not nil, is called
// once the server answers /readyz, with the server's loopback client
// configuration (system:apiserver, as kube-apiserver's own controllers use).
func Run(ctx context.Context, o *Options, ready func(loopback *restclient.Config)) error {
	start := time.Now()
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Upstream's pod validation reads this process-wide policy.
	capabilities.Setup(o.AllowPrivileged, 0)
	var embedded *etcd.Server
	if len(o.EtcdServers) == 0 {
		var err error
		embedded, err = etcd.Start(ctx, etcd.Config{
			Dir:           filepath.Join(o.DataDir, "etcd"),
			FastElection:  o.EtcdFastElection,
			UnsafeNoFsync: o.EtcdUnsafeNoFsync,
		})
		if err != nil {
			return err
		}
		defer embedded.Close()
	}

	cfg, err := NewConfig(o, embedded)
	if err != nil {
		return err
	}
	server, err := cfg.Complete().New()
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if embedded != nil {
		go func() {
			select {
			case err := <-embedded.Err():
				klog.ErrorS(err, "Embedded etcd failed; stopping")
				cancel()
			case <-runCtx.Done():
			}
		}()
	}
	loopback := server.LoopbackClientConfig()
	go announceReady(runCtx, loopback, func() {
		took := time.Since(start).Round(time.Millisecond)
		klog.InfoS("API server ready", "url", o.localURL(), "kubeconfig", o.KubeconfigPath(), "took", took)
		fmt.Fprintf(os.Stderr, "skiff: API server ready at %s after %s; export KUBECONFIG=%s\n", o.localURL(), took, o.KubeconfigPath())
		if ready != nil {
			ready(restclient.CopyConfig(loopback))
		}
	})
	return server.Run(runCtx)
}

// hostAddresses are the names and IPs the serving certificate must carry.
func hostAddresses(o *Options, advertise net.IP) ([]string, []net.IP) {
	names := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	if advertise != nil {
		ips = append(ips, advertise)
	}
	if o.BindAddress != nil && !o.BindAddress.IsUnspecified() && !o.BindAddress.Equal(advertise) {
		ips = append(ips, o.BindAddress)
	}
	return names, ips
}

// announceReady calls ready once /readyz answers ok over loopback.
func announceReady(ctx context.Context, config *restclient.Config, ready func()) {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.ErrorS(err, "Cannot watch readiness")
		return
	}
	err = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err == nil {
		ready()
	}
}
