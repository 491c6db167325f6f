package apiserver

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/skiff-project/skiff/pkg/etcd"
)

// BenchmarkServerAssembly measures building the whole server (config,
// storage for every resource, the delegation chain and PrepareRun's OpenAPI
// and discovery work) against an already running embedded etcd: the part of
// a restart that happens before the server listens.
func BenchmarkServerAssembly(b *testing.B) {
	dir := b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := etcd.Start(ctx, etcd.Config{Dir: filepath.Join(dir, "etcd"), FastElection: true, UnsafeNoFsync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	o := NewOptions()
	o.DataDir = dir
	o.BindAddress = net.ParseIP("127.0.0.1")
	o.AdvertiseAddress = net.ParseIP("192.0.2.1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.SecurePort = 20000 + i%1000
		cfg, err := NewConfig(o, e)
		if err != nil {
			b.Fatal(err)
		}
		s, err := cfg.Complete().New()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.aggregator.PrepareRun(); err != nil {
			b.Fatal(err)
		}
		s.aggregator.GenericAPIServer.Destroy()
	}
}
