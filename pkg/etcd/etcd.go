// Package etcd runs the embedded, single-member etcd that `skiff server` uses
// when no external etcd is configured.
//
// It listens on loopback only, on ports chosen from the ephemeral range and
// remembered in the data dir: never 2379 (another etcd may own it) and never
// inside the NodePort range, where kube-proxy rules would capture it.
package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/klog/v2"
)

// Config is the embedded etcd's configuration.
type Config struct {
	// Dir holds etcd's data (member/, wal) and ports.json.
	Dir string
	// FastElection shortens raft ticks: a single member elects itself at
	// once. UnsafeNoFsync is for tests only: data may be lost on a crash.
	FastElection  bool
	UnsafeNoFsync bool
	// ReadyTimeout bounds the wait for the member to serve.
	ReadyTimeout time.Duration
}

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	// ClientURL is where clients reach it, e.g. http://127.0.0.1:41234.
	ClientURL string
}

type ports struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// Start starts etcd and waits until it serves.
func Start(ctx context.Context, c Config) (*Server, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd dir: %w", err)
	}
	p, err := choosePorts(filepath.Join(c.Dir, "ports.json"))
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(c.Dir, "data")
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Client))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Peer))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(c.Dir, "etcd.log")}
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	if c.FastElection {
		cfg.TickMs = 10
		cfg.ElectionMs = 100
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", c.Dir, err)
	}
	timeout := c.ReadyTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(timeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready after %s", timeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	klog.InfoS("Embedded etcd ready", "url", clientURL.String(), "dir", c.Dir)
	return &Server{etcd: e, ClientURL: clientURL.String()}, nil
}

// Err reports a fatal error of the running member.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd, waiting for in-flight requests.
func (s *Server) Close() {
	s.etcd.Close()
}

// choosePorts reuses the ports of the previous start when they are free and
// picks fresh ephemeral loopback ports otherwise.
func choosePorts(path string) (ports, error) {
	var p ports
	if data, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(data, &p) == nil && portFree(p.Client) && portFree(p.Peer) && p.Client != p.Peer {
			return p, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return p, fmt.Errorf("read %s: %w", path, err)
	}
	var err error
	if p.Client, err = freePort(); err != nil {
		return p, err
	}
	for {
		if p.Peer, err = freePort(); err != nil {
			return p, err
		}
		if p.Peer != p.Client {
			break
		}
	}
	data, _ := json.Marshal(p)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return p, fmt.Errorf("write %s: %w", path, err)
	}
	return p, nil
}

func portFree(port int) bool {
	if port <= 0 {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort asks the kernel for an ephemeral port (32768-60999 on Linux,
// above the NodePort range).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a loopback port for etcd: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
