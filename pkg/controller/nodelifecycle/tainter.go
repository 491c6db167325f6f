package nodelifecycle

import (
	"sync"

	"k8s.io/client-go/util/flowcontrol"
)

// zoneTainter is a zone's queue of nodes waiting for their NoExecute
// taint, worked through at the zone's rate (burst 1, as upstream).
type zoneTainter struct {
	mu      sync.Mutex
	queue   []string
	queued  map[string]bool
	limiter flowcontrol.RateLimiter
	clock   flowcontrol.Clock
}

func newZoneTainter(qps float32, clk flowcontrol.Clock) *zoneTainter {
	t := &zoneTainter{queued: map[string]bool{}, clock: clk}
	t.setRate(qps)
	return t
}

// setRate changes the rate; 0 stops tainting.
func (t *zoneTainter) setRate(qps float32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limiter != nil {
		t.limiter.Stop()
	}
	if qps <= 0 {
		t.limiter = flowcontrol.NewFakeNeverRateLimiter()
		return
	}
	t.limiter = flowcontrol.NewTokenBucketRateLimiterWithClock(qps, 1, t.clock)
}

// add queues a node; false if it already is.
func (t *zoneTainter) add(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.queued[name] {
		return false
	}
	t.queued[name] = true
	t.queue = append(t.queue, name)
	return true
}

// remove dequeues a node; false if it was not queued.
func (t *zoneTainter) remove(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.queued[name] {
		return false
	}
	delete(t.queued, name)
	for i, n := range t.queue {
		if n == name {
			t.queue = append(t.queue[:i], t.queue[i+1:]...)
			break
		}
	}
	return true
}

// try hands queued nodes to fn in order while the rate allows; a node fn
// succeeds with leaves the queue but stays known (add is then a no-op
// until remove), so that a tainted node is not tainted again each cycle;
// the others go to the end of the queue.
func (t *zoneTainter) try(fn func(name string) bool) {
	t.mu.Lock()
	pending := append([]string(nil), t.queue...)
	limiter := t.limiter
	t.mu.Unlock()
	for _, name := range pending {
		if !limiter.TryAccept() {
			return
		}
		ok := fn(name)
		t.mu.Lock()
		if t.queued[name] {
			for i, n := range t.queue {
				if n == name {
					t.queue = append(t.queue[:i], t.queue[i+1:]...)
					break
				}
			}
			if !ok {
				t.queue = append(t.queue, name)
			}
		}
		t.mu.Unlock()
	}
}
