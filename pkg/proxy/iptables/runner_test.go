package iptables

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// runnerHarness drives a syncRunner on a fake clock, one loop event at a
// time.
type runnerHarness struct {
	t       *testing.T
	clock   *clocktesting.FakeClock
	r       *syncRunner
	stepped chan struct{}
	mu      sync.Mutex
	runs    []time.Time
	fail    int // fail this many runs from now
	cancel  context.CancelFunc
}

func newRunnerHarness(t *testing.T, minInterval, maxInterval, retry time.Duration) *runnerHarness {
	h := &runnerHarness{t: t, clock: clocktesting.NewFakeClock(time.Unix(1e9, 0)), stepped: make(chan struct{}, 100)}
	h.r = newSyncRunner(func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.runs = append(h.runs, h.clock.Now())
		if h.fail > 0 {
			h.fail--
			return errors.New("boom")
		}
		return nil
	}, minInterval, maxInterval, retry, h.clock)
	h.r.stepped = h.stepped
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan struct{})
	go func() { h.r.Loop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait until the loop armed its periodic timer.
	for !h.clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	return h
}

// step waits for the loop to handle one event.
func (h *runnerHarness) step() {
	h.t.Helper()
	select {
	case <-h.stepped:
	case <-time.After(5 * time.Second):
		h.t.Fatal("runner loop did not handle the event")
	}
}

func (h *runnerHarness) request() { h.r.Run(); h.step() }

func (h *runnerHarness) advance(d time.Duration) { h.clock.Step(d); h.step() }

func (h *runnerHarness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.runs)
}

func TestRunnerSyncsFirstRequestAtOnce(t *testing.T) {
	h := newRunnerHarness(t, time.Second, time.Minute, 5*time.Second)
	h.request()
	if h.count() != 1 {
		t.Fatalf("%d runs after the first request, want 1", h.count())
	}
}

func TestRunnerBatchesRequestsWithinMinInterval(t *testing.T) {
	h := newRunnerHarness(t, time.Second, time.Minute, 5*time.Second)
	h.request()
	// A burst of changes right after a sync: no sync until a second has
	// passed, then exactly one for all of them.
	for i := 0; i < 10; i++ {
		h.request()
	}
	if h.count() != 1 {
		t.Fatalf("%d runs during the min interval, want 1", h.count())
	}
	h.clock.Step(500 * time.Millisecond) // timer not due yet: no event
	if h.count() != 1 {
		t.Fatalf("ran before the min interval passed")
	}
	h.advance(500 * time.Millisecond)
	if h.count() != 2 {
		t.Fatalf("%d runs after the min interval, want 2", h.count())
	}
	if d := h.runs[1].Sub(h.runs[0]); d != time.Second {
		t.Errorf("second run %v after the first, want 1s", d)
	}
	// Nothing pending: time passing alone runs nothing before maxInterval.
	h.clock.Step(10 * time.Second)
	if h.count() != 2 {
		t.Fatalf("ran without a request")
	}
}

func TestRunnerPeriodicSync(t *testing.T) {
	h := newRunnerHarness(t, time.Second, time.Minute, 5*time.Second)
	h.advance(time.Minute)
	if h.count() != 1 {
		t.Fatalf("%d runs after maxInterval, want 1", h.count())
	}
	h.advance(time.Minute)
	if h.count() != 2 {
		t.Fatalf("%d runs after two maxIntervals, want 2", h.count())
	}
}

func TestRunnerRetriesAfterFailure(t *testing.T) {
	h := newRunnerHarness(t, time.Second, time.Minute, 5*time.Second)
	h.fail = 1
	h.request()
	if h.count() != 1 {
		t.Fatalf("%d runs, want 1", h.count())
	}
	// Requests during the back-off do not cut it short.
	h.request()
	h.clock.Step(2 * time.Second)
	if h.count() != 1 {
		t.Fatalf("retried before the back-off")
	}
	h.advance(3 * time.Second)
	if h.count() != 2 {
		t.Fatalf("%d runs after the back-off, want 2", h.count())
	}
}
