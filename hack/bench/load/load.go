// Package load is a load generator for Kubernetes API servers: it drives
// ConfigMap traffic (create, get, list, update, server-side apply, watch
// fan-out, a mix) with a configurable number of clients, rate, object size
// and duration, and measures ops/s and latency percentiles.
//
// It only ever talks to a server on a loopback address (NewClient refuses
// anything else), and every scenario stops by itself: after Duration, or
// after MaxOps operations, whichever comes first.
package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Config is a scenario's load.
type Config struct {
	// Namespace holds the scenario's objects; it is created if missing.
	Namespace string
	// Clients is the number of concurrent workers, each with its own
	// connection to the server.
	Clients int
	// QPS caps the total request rate of all workers (0: as fast as they
	// can).
	QPS float64
	// ObjectSize is the size in bytes of each ConfigMap's data.
	ObjectSize int
	// Duration bounds the measured phase.
	Duration time.Duration
	// MaxOps bounds the number of operations of the measured phase.
	MaxOps int
	// ListObjects is how many objects the list scenarios list.
	ListObjects int
	// PageSize is the limit of each page of the paginated list.
	PageSize int64
	// Watchers is the number of watches of the watch scenario.
	Watchers int
}

// DefaultConfig is the full-size load of the issue: 10k objects to list,
// 100 watchers.
func DefaultConfig() Config {
	return Config{
		Namespace:   "bench",
		Clients:     8,
		ObjectSize:  1024,
		Duration:    20 * time.Second,
		MaxOps:      1_000_000,
		ListObjects: 10_000,
		PageSize:    500,
		Watchers:    100,
	}
}

func (c Config) validate() error {
	switch {
	case c.Namespace == "":
		return errors.New("namespace is empty")
	case c.Clients < 1:
		return fmt.Errorf("clients must be at least 1, not %d", c.Clients)
	case c.QPS < 0:
		return fmt.Errorf("qps must not be negative, not %g", c.QPS)
	case c.ObjectSize < 0 || c.ObjectSize > 512*1024:
		return fmt.Errorf("object size must be within 0..512KiB, not %d", c.ObjectSize)
	case c.Duration <= 0 || c.Duration > time.Hour:
		return fmt.Errorf("duration must be within (0, 1h], not %s", c.Duration)
	case c.MaxOps < 1:
		return fmt.Errorf("max ops must be at least 1, not %d", c.MaxOps)
	case c.ListObjects < 1 || c.ListObjects > 100_000:
		return fmt.Errorf("list objects must be within 1..100000, not %d", c.ListObjects)
	case c.PageSize < 1:
		return fmt.Errorf("page size must be at least 1, not %d", c.PageSize)
	case c.Watchers < 1 || c.Watchers > 1000:
		return fmt.Errorf("watchers must be within 1..1000, not %d", c.Watchers)
	}
	return nil
}

// CheckLoopback returns an error unless host (a URL, host:port or bare
// host) names a loopback address: 127.0.0.0/8, ::1 or "localhost". Names
// are not resolved: a name other than localhost is refused.
func CheckLoopback(host string) error {
	h := host
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil {
			return fmt.Errorf("refusing target %q: %w", host, err)
		}
		h = u.Hostname()
	} else if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing target %q: the load generator only talks to loopback addresses (127.0.0.0/8, ::1, localhost)", host)
}

// NewClient returns a clientset for cfg after checking that its server is
// on loopback. The client has no client-side rate limit (the scenario
// paces itself) and ignores proxy settings from the environment, so the
// traffic goes straight to the loopback address. Each call opens its own
// connections.
func NewClient(cfg *rest.Config) (kubernetes.Interface, error) {
	return newClient(cfg, time.Minute)
}

func newClient(cfg *rest.Config, timeout time.Duration) (kubernetes.Interface, error) {
	if err := CheckLoopback(cfg.Host); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	// A Proxy func also keeps client-go from sharing one cached transport
	// between clients: each worker gets its own connection.
	c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	c.Timeout = timeout
	return kubernetes.NewForConfig(c)
}

// pacer spaces operations 1/qps apart across all workers.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newPacer(qps float64) *pacer {
	if qps <= 0 {
		return nil
	}
	return &pacer{interval: time.Duration(float64(time.Second) / qps)}
}

// wait blocks until the caller's turn; false if ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	if p == nil {
		return ctx.Err() == nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Op is one operation of worker w; i counts the worker's operations.
type Op func(ctx context.Context, w, i int) error

// runWorkers runs op on cfg.Clients workers until cfg.Duration has passed
// or cfg.MaxOps operations have started, and records each operation's
// latency. It returns the summary over the measured phase. An operation
// under way at the end of Duration is let finish (each request is bounded
// by the client's timeout), so that the end of the run does not show up
// as cancelled requests.
func runWorkers(ctx context.Context, cfg Config, op Op) Summary {
	window, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var rec Recorder
	var started atomic.Int64
	p := newPacer(cfg.QPS)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if started.Add(1) > int64(cfg.MaxOps) || !p.wait(window) {
					return
				}
				t0 := time.Now()
				err := op(ctx, w, i)
				if err != nil && ctx.Err() != nil {
					// The whole run was cancelled: not a server failure.
					return
				}
				rec.Record(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	return rec.Summary(time.Since(begin))
}
