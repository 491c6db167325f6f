package kubelet

import (
	"strings"
	"sync"
	"time"
)

// backoff is upstream's per-key exponential back-off (flowcontrol.Backoff
// as the kubelet uses it): the first failure restarts at once, each
// following one waits twice as long as the one before, up to max; a key
// quiet for twice max starts over.
type backoff struct {
	initial, max time.Duration

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// inBackoffSince reports whether key is still backing off from a failure
// at since, and how long is left.
func (b *backoff) inBackoffSince(key string, since, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return false, 0
	}
	if now.Sub(e.lastUpdate) > 2*b.max {
		delete(b.entries, key)
		return false, 0
	}
	if left := e.delay - now.Sub(since); left > 0 {
		return true, left
	}
	return false, 0
}

// next records a failure at t and lengthens the delay.
func (b *backoff) next(key string, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || t.Sub(e.lastUpdate) > 2*b.max {
		b.entries[key] = &backoffEntry{delay: b.initial, lastUpdate: t}
		return
	}
	e.delay = min(2*e.delay, b.max)
	e.lastUpdate = t
}

// get is key's current delay (0 without an entry).
func (b *backoff) get(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// forgetPrefix drops the entries of a removed pod.
func (b *backoff) forgetPrefix(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if strings.HasPrefix(k, prefix) {
			delete(b.entries, k)
		}
	}
}
