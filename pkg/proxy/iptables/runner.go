package iptables

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// syncRunner batches sync requests. A request is served at once when the
// last sync was at least minInterval ago; otherwise one sync runs when the
// interval has passed and serves every request made in between. Without
// requests it syncs every maxInterval, and after a failure it tries again
// after retryInterval.
type syncRunner struct {
	fn                                      func() error
	minInterval, maxInterval, retryInterval time.Duration
	clock                                   clock.Clock
	requests                                chan struct{}
	// stepped, when set (tests), is told each time the loop has handled
	// an event.
	stepped chan<- struct{}
}

func newSyncRunner(fn func() error, minInterval, maxInterval, retryInterval time.Duration, c clock.Clock) *syncRunner {
	return &syncRunner{
		fn:            fn,
		minInterval:   minInterval,
		maxInterval:   maxInterval,
		retryInterval: retryInterval,
		clock:         c,
		requests:      make(chan struct{}, 1),
	}
}

// Run requests a sync; it never blocks.
func (r *syncRunner) Run() {
	select {
	case r.requests <- struct{}{}:
	default: // one is already pending; it will see this change too
	}
}

// Loop serves requests until ctx ends.
func (r *syncRunner) Loop(ctx context.Context) {
	var last time.Time
	pending := false
	periodic := r.clock.NewTimer(r.maxInterval)
	defer periodic.Stop()
	// wait is the timer of the next allowed sync (after minInterval or a
	// retry back-off); nil when none is scheduled.
	var wait clock.Timer
	for {
		var waitC <-chan time.Time
		if wait != nil {
			waitC = wait.C()
		}
		select {
		case <-ctx.Done():
			if wait != nil {
				wait.Stop()
			}
			return
		case <-r.requests:
			pending = true
		case <-periodic.C():
			pending = true
		case <-waitC:
			wait = nil
		}
		if pending && wait == nil {
			if elapsed := r.clock.Since(last); !last.IsZero() && elapsed < r.minInterval {
				wait = r.clock.NewTimer(r.minInterval - elapsed)
			} else {
				pending = false
				last = r.clock.Now()
				err := r.fn()
				periodic.Stop()
				periodic = r.clock.NewTimer(r.maxInterval)
				if err != nil {
					pending = true
					wait = r.clock.NewTimer(r.retryInterval)
				}
			}
		}
		if r.stepped != nil {
			r.stepped <- struct{}{}
		}
	}
}
