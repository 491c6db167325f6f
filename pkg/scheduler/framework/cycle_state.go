package framework

import (
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
)

// ErrNotFound is returned by CycleState.Read for a key nobody wrote.
var ErrNotFound = errors.New("not found")

// StateKey names data in a CycleState.
type StateKey string

// StateData is what plugins keep in a CycleState.
type StateData interface {
	// Clone copies the data; plugins whose data never changes after
	// PreFilter may return the receiver.
	Clone() StateData
}

// CycleState carries plugin data through one scheduling cycle. Filter runs
// in parallel over nodes, so reads and writes are synchronised.
type CycleState struct {
	storage sync.Map
	// SkipFilterPlugins are PreFilter plugins that returned Skip; their
	// Filter is not run.
	SkipFilterPlugins sets.Set[string]
	// SkipScorePlugins are PreScore plugins that returned Skip.
	SkipScorePlugins sets.Set[string]
	// filters are the Filter plugins to run this cycle (the configured
	// ones minus SkipFilterPlugins), computed once after PreFilter.
	filters []FilterPlugin
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState { return &CycleState{} }

// Read returns the data under key.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.storage.Load(key); ok {
		return v.(StateData), nil
	}
	return nil, ErrNotFound
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, val StateData) { c.storage.Store(key, val) }

// Delete removes key.
func (c *CycleState) Delete(key StateKey) { c.storage.Delete(key) }

// Clone copies the state (each value through its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := NewCycleState()
	c.storage.Range(func(k, v any) bool {
		if d, ok := v.(StateData); ok && d != nil {
			out.storage.Store(k, d.Clone())
		}
		return true
	})
	out.SkipFilterPlugins = c.SkipFilterPlugins
	out.SkipScorePlugins = c.SkipScorePlugins
	out.filters = c.filters
	return out
}
