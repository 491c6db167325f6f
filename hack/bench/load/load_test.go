package load

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, ms(i))
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample p50", []time.Duration{ms(7)}, 0.5, ms(7)},
		{"one sample p99", []time.Duration{ms(7)}, 0.99, ms(7)},
		{"1..100 p50", hundred, 0.50, ms(50)},
		{"1..100 p90", hundred, 0.90, ms(90)},
		{"1..100 p99", hundred, 0.99, ms(99)},
		{"1..100 max", hundred, 1, ms(100)},
		{"1..100 min", hundred, 0, ms(1)},
		// Nearest rank: ceil(0.5*4) = 2nd value, ceil(0.99*4) = 4th.
		{"four p50", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 0.5, ms(2)},
		{"four p99", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 0.99, ms(4)},
		{"ten p50", []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9), ms(10)}, 0.5, ms(5)},
	} {
		if got := Percentile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: Percentile(q=%g) = %s, want %s", tc.name, tc.q, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	// 200 samples in reverse order: Summarize sorts them itself, and
	// does not reorder the caller's slice.
	var lat []time.Duration
	for i := 200; i >= 1; i-- {
		lat = append(lat, ms(i))
	}
	s := Summarize(lat, 3, 4*time.Second)
	if s.Ops != 200 || s.Errors != 3 {
		t.Errorf("ops/errors = %d/%d, want 200/3", s.Ops, s.Errors)
	}
	if math.Abs(s.OpsPerSec-50) > 1e-9 {
		t.Errorf("ops/s = %g, want 50 (200 ops in 4 s; errors do not count)", s.OpsPerSec)
	}
	if s.P50 != ms(100) || s.P90 != ms(180) || s.P99 != ms(198) || s.Max != ms(200) {
		t.Errorf("p50/p90/p99/max = %s/%s/%s/%s, want 100ms/180ms/198ms/200ms", s.P50, s.P90, s.P99, s.Max)
	}
	if lat[0] != ms(200) {
		t.Errorf("Summarize reordered its input")
	}
	if z := Summarize(nil, 0, 0); z.OpsPerSec != 0 || z.P99 != 0 {
		t.Errorf("empty summary = %+v, want zeros", z)
	}
}

func TestRecorder(t *testing.T) {
	var r Recorder
	r.Record(ms(10), nil)
	r.Record(ms(30), nil)
	r.Record(ms(99), errors.New("boom"))
	r.Record(ms(20), errors.New("second"))
	s := r.Summary(time.Second)
	if s.Ops != 2 || s.Errors != 2 || s.OpsPerSec != 2 || s.Max != ms(30) || s.FirstError != "boom" {
		t.Errorf("summary = %+v, want 2 ops, 2 errors, 2 ops/s, max 30ms (failed latencies ignored), first error boom", s)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{
		"https://127.0.0.1:6443", "https://127.4.5.6", "127.0.0.1:1234", "127.0.0.1",
		"https://[::1]:6443", "[::1]:80", "::1", "https://localhost:6443", "LOCALHOST",
	} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"", "https://10.0.0.1:6443", "https://192.168.1.10", "172.16.0.1:443", "https://8.8.8.8",
		"https://[2001:db8::1]:6443", "https://example.com", "https://localhost.example.com",
		"https://127.0.0.1.nip.io", "0.0.0.0", "https://[::]:6443", "::ffff:10.0.0.1",
	} {
		err := CheckLoopback(bad)
		if err == nil || !strings.Contains(err.Error(), "refusing target") {
			t.Errorf("CheckLoopback(%q) = %v, want a refusal", bad, err)
		}
	}
}

func TestClientsRefuseNonLoopback(t *testing.T) {
	if _, err := NewClient(&rest.Config{Host: "https://10.1.2.3:6443"}); err == nil {
		t.Error("NewClient accepted 10.1.2.3")
	}
	if _, err := NewRunner(&rest.Config{Host: "https://93.184.216.34"}); err == nil {
		t.Error("NewRunner accepted a public address")
	}
	if _, err := NewClient(&rest.Config{Host: "https://127.0.0.1:1"}); err != nil {
		t.Errorf("NewClient refused loopback: %v", err)
	}
}

func TestRunWorkersBounds(t *testing.T) {
	// Bounded by count: never more than MaxOps operations.
	var n atomic.Int64
	c := Config{Clients: 4, MaxOps: 50, Duration: time.Minute}
	s := runWorkers(context.Background(), c, func(context.Context, int, int) error { n.Add(1); return nil })
	if n.Load() != 50 || s.Ops != 50 {
		t.Errorf("ran %d ops (summary %d), want exactly MaxOps=50", n.Load(), s.Ops)
	}

	// Bounded by time, and paced by QPS: 100/s for 300ms is about 30.
	n.Store(0)
	c = Config{Clients: 4, MaxOps: 1_000_000, Duration: 300 * time.Millisecond, QPS: 100}
	begin := time.Now()
	s = runWorkers(context.Background(), c, func(context.Context, int, int) error { n.Add(1); return nil })
	if el := time.Since(begin); el > 2*time.Second {
		t.Errorf("runWorkers ran %s, want about its 300ms Duration", el)
	}
	if n.Load() < 10 || n.Load() > 40 {
		t.Errorf("ran %d ops at 100 QPS for 300ms, want about 30", n.Load())
	}
	if s.Errors != 0 {
		t.Errorf("errors = %d", s.Errors)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"no clients":     func(c *Config) { c.Clients = 0 },
		"no duration":    func(c *Config) { c.Duration = 0 },
		"endless":        func(c *Config) { c.Duration = 2 * time.Hour },
		"no ops":         func(c *Config) { c.MaxOps = 0 },
		"huge objects":   func(c *Config) { c.ObjectSize = 10 << 20 },
		"watchers":       func(c *Config) { c.Watchers = 0 },
		"negative qps":   func(c *Config) { c.QPS = -1 },
		"no namespace":   func(c *Config) { c.Namespace = "" },
		"zero page size": func(c *Config) { c.PageSize = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
