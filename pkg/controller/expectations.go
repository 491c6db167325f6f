package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long a controller waits for the watch events
// of the creates and deletes it made before it acts again anyway: a dropped
// event must not leave it asleep for ever (upstream's value).
const ExpectationsTimeout = 5 * time.Minute

// Expectations remembers, per controller key, how many creations and
// deletions of its children it has made and not yet seen through its
// informers. Until they are observed (or expire), the controller must not
// compute "missing" children from its stale cache, or it would create or
// delete them twice.
//
// Deletions are tracked by child key, so that a deletion seen twice (first
// as a deletionTimestamp update, then as the delete) counts once.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	items map[string]*expectation
}

type expectation struct {
	adds      int
	deletes   sets.Set[string]
	timestamp time.Time
}

// NewExpectations returns an empty expectations store.
func NewExpectations() *Expectations {
	return NewExpectationsWithClock(clock.RealClock{})
}

// NewExpectationsWithClock returns an empty store that ages entries by c.
func NewExpectationsWithClock(c clock.PassiveClock) *Expectations {
	return &Expectations{clock: c, items: map[string]*expectation{}}
}

// Satisfied reports whether the controller may act: it has no pending
// expectations, they are all observed, or they expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.items[key]
	if !ok {
		return true
	}
	if exp.adds <= 0 && exp.deletes.Len() == 0 {
		return true
	}
	return e.clock.Since(exp.timestamp) > ExpectationsTimeout
}

// ExpectCreations replaces the expectations of key with adds creations.
func (e *Expectations) ExpectCreations(key string, adds int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{adds: adds, deletes: sets.New[string](), timestamp: e.clock.Now()}
}

// ExpectDeletions replaces the expectations of key with the deletion of
// the children named by childKeys.
func (e *Expectations) ExpectDeletions(key string, childKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{deletes: sets.New(childKeys...), timestamp: e.clock.Now()}
}

// Expect replaces the expectations of key with adds creations and the
// deletion of the children named by deleteKeys.
func (e *Expectations) Expect(key string, adds int, deleteKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{adds: adds, deletes: sets.New(deleteKeys...), timestamp: e.clock.Now()}
}

// LowerCreations takes n expected creations back (creates never attempted).
func (e *Expectations) LowerCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.items[key]; ok {
		exp.adds -= n
	}
}

// RaiseCreations adds n more expected creations to the existing entry.
func (e *Expectations) RaiseCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.items[key]; ok {
		exp.adds += n
	}
}

// CreationObserved records that one expected creation was seen (or will
// never happen because the create failed).
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.items[key]; ok {
		exp.adds--
	}
}

// DeletionObserved records that the child childKey was seen deleted (or
// that its delete failed).
func (e *Expectations) DeletionObserved(key, childKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.items[key]; ok {
		exp.deletes.Delete(childKey)
	}
}

// Pending returns the outstanding creations and deletions of key.
func (e *Expectations) Pending(key string) (adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.items[key]; ok {
		return exp.adds, exp.deletes.Len()
	}
	return 0, 0
}

// Delete forgets key, when its controller object is gone.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
