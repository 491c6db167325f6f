package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	skiff    = "skiff"
	upstream = "upstream"
)

// ports are the loopback ports of one side's processes.
type ports struct {
	api, etcdClient, etcdPeer, controllerManager, scheduler int
}

// portsFor gives each side its own ports from base, so that a side's
// leftover process can never answer for the other.
func portsFor(base int, side string) ports {
	if side == upstream {
		base += 5
	}
	return ports{api: base, etcdClient: base + 1, etcdPeer: base + 2, controllerManager: base + 3, scheduler: base + 4}
}

// stack is one side's running control plane.
type stack struct {
	side       string
	dir        string
	ports      ports
	etcd       *proc // external etcd; nil for skiff server (embedded)
	api        *proc
	extra      []*proc // upstream's controller-manager and scheduler
	kubeconfig string
	pki        *pki // upstream only
	// ready is from the start of the first process to /readyz.
	ready time.Duration
}

func (s *stack) procs() []*proc {
	var ps []*proc
	for _, p := range append([]*proc{s.api, s.etcd}, s.extra...) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// stop stops the stack, etcd last.
func (s *stack) stop() {
	for _, p := range s.extra {
		p.stop()
	}
	s.api.stop()
	s.etcd.stop()
}

func (s *stack) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig: %w", s.side, err)
	}
	return cfg, nil
}

func readyzURL(port int) string { return fmt.Sprintf("https://127.0.0.1:%d/readyz", port) }

// startEtcd starts an etcd with a fresh data dir under dir. Both sides'
// etcds get exactly these flags.
func startEtcd(ctx context.Context, dir string, pt ports) (*proc, error) {
	client := fmt.Sprintf("http://127.0.0.1:%d", pt.etcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pt.etcdPeer)
	args := []string{
		"--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bench=" + peer, "--initial-cluster-state", "new",
		"--quota-backend-bytes", strconv.Itoa(8 << 30), "--log-level", "warn",
	}
	if *etcdNoFsync {
		args = append(args, "--unsafe-no-fsync")
	}
	p, err := startProc(dir, "etcd", *etcdBin, args...)
	if err != nil {
		return nil, err
	}
	if _, err := waitHTTP(ctx, p, client+"/health", `"health":"true"`, time.Now(), time.Minute); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// startAPI starts side's API server alone over the stack's etcd and waits
// for /readyz; s.ready is the time from exec to ready.
func (s *stack) startAPI(ctx context.Context) error {
	etcd := fmt.Sprintf("http://127.0.0.1:%d", s.ports.etcdClient)
	port := strconv.Itoa(s.ports.api)
	var err error
	t0 := time.Now()
	switch s.side {
	case skiff:
		data := filepath.Join(s.dir, "skiff")
		s.kubeconfig = filepath.Join(data, "admin.kubeconfig")
		s.api, err = startProc(s.dir, "skiff-apiserver", *skiffBin, "apiserver", "--data-dir", data,
			"--secure-port", port, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
			"--etcd-servers", etcd)
	case upstream:
		s.kubeconfig = s.pki.admin
		s.api, err = startProc(s.dir, "kube-apiserver", filepath.Join(*upstreamDir, "kube-apiserver"), upstreamAPIArgs(s.pki, port, etcd)...)
	}
	if err != nil {
		return err
	}
	s.ready, err = waitHTTP(ctx, s.api, readyzURL(s.ports.api), "ok", t0, 3*time.Minute)
	return err
}

// upstreamAPIArgs are kubeadm's kube-apiserver flags, less what needs
// nodes (kubelet client certificates, front proxy).
func upstreamAPIArgs(p *pki, port, etcd string) []string {
	return []string{
		"--etcd-servers", etcd,
		"--secure-port", port, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--tls-cert-file", p.serverCert, "--tls-private-key-file", p.serverKey, "--client-ca-file", p.caCert,
		"--cert-dir", filepath.Join(p.dir, "generated"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p.saPub, "--service-account-signing-key-file", p.saKey,
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--service-cluster-ip-range", "10.96.0.0/12", "--allow-privileged=true",
		// It refuses to publish a loopback address in the kubernetes
		// Service's endpoints; the bench has nothing else to advertise.
		"--endpoint-reconciler-type", "none",
	}
}

// newAPIStack starts a fresh etcd and side's API server alone over it.
func newAPIStack(ctx context.Context, side, dir string) (*stack, error) {
	s := &stack{side: side, dir: dir, ports: portsFor(*portBase, side)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if side == upstream {
		var err error
		if s.pki, err = newPKI(filepath.Join(dir, "pki"), s.ports.api); err != nil {
			return nil, fmt.Errorf("upstream certificates: %w", err)
		}
	}
	var err error
	if s.etcd, err = startEtcd(ctx, dir, s.ports); err != nil {
		return nil, err
	}
	if err := s.startAPI(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// restartAPI stops the API server and starts it again over the same etcd
// (and, for skiff, the same data dir).
func (s *stack) restartAPI(ctx context.Context) error {
	s.api.stop()
	return s.startAPI(ctx)
}

// newFullStack starts a whole control plane: `skiff server` (embedded
// etcd, controllers, scheduler; no node agent, no addons), or etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler. ready is
// from the first process's start to the API server's /readyz.
func newFullStack(ctx context.Context, side, dir string) (*stack, error) {
	s := &stack{side: side, dir: dir, ports: portsFor(*portBase, side)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port := strconv.Itoa(s.ports.api)
	var err error
	if side == skiff {
		data := filepath.Join(dir, "skiff")
		s.kubeconfig = filepath.Join(data, "admin.kubeconfig")
		t0 := time.Now()
		s.api, err = startProc(dir, "skiff-server", *skiffBin, "server", "--disable-agent",
			"--disable", "coredns,servicelb,local-storage", "--data-dir", data,
			"--secure-port", port, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1")
		if err != nil {
			return nil, err
		}
		if s.ready, err = waitHTTP(ctx, s.api, readyzURL(s.ports.api), "ok", t0, 3*time.Minute); err != nil {
			s.stop()
			return nil, err
		}
		return s, nil
	}
	if s.pki, err = newPKI(filepath.Join(dir, "pki"), s.ports.api); err != nil {
		return nil, fmt.Errorf("upstream certificates: %w", err)
	}
	s.kubeconfig = s.pki.admin
	t0 := time.Now()
	if s.etcd, err = startEtcd(ctx, dir, s.ports); err != nil {
		return nil, err
	}
	if s.api, err = startProc(dir, "kube-apiserver", filepath.Join(*upstreamDir, "kube-apiserver"),
		upstreamAPIArgs(s.pki, port, fmt.Sprintf("http://127.0.0.1:%d", s.ports.etcdClient))...); err != nil {
		s.stop()
		return nil, err
	}
	p := s.pki
	// kubeadm's flags for both.
	cm, err := startProc(dir, "kube-controller-manager", filepath.Join(*upstreamDir, "kube-controller-manager"),
		"--kubeconfig", p.controllerManager, "--authentication-kubeconfig", p.controllerManager,
		"--authorization-kubeconfig", p.controllerManager,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(s.ports.controllerManager),
		"--client-ca-file", p.caCert, "--root-ca-file", p.caCert,
		"--cluster-signing-cert-file", p.caCert, "--cluster-signing-key-file", p.caKey,
		"--service-account-private-key-file", p.saKey, "--use-service-account-credentials=true",
		"--controllers", "*,bootstrapsigner,tokencleaner", "--leader-elect=true",
		"--allocate-node-cidrs=true", "--cluster-cidr", "10.244.0.0/16", "--service-cluster-ip-range", "10.96.0.0/12",
		"--cert-dir", filepath.Join(dir, "kcm-certs"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.extra = append(s.extra, cm)
	sched, err := startProc(dir, "kube-scheduler", filepath.Join(*upstreamDir, "kube-scheduler"),
		"--kubeconfig", p.scheduler, "--authentication-kubeconfig", p.scheduler, "--authorization-kubeconfig", p.scheduler,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(s.ports.scheduler), "--leader-elect=true",
		"--cert-dir", filepath.Join(dir, "scheduler-certs"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.extra = append(s.extra, sched)
	if s.ready, err = waitHTTP(ctx, s.api, readyzURL(s.ports.api), "ok", t0, 3*time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}
