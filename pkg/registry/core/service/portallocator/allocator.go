// Package portallocator hands out Service NodePorts from the configured range.
// The taken ports are a bitmap in one RangeAllocation object in etcd (at
// upstream's key, in upstream's format); every allocation and release is a
// compare-and-swap of that object, so concurrent creates, on one API server
// or several sharing an etcd, never get the same port, and allocations
// survive restarts. The Repair loop reconciles the bitmap with the Services.
package portallocator

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

var (
	// ErrFull means no port of the range is free.
	ErrFull = errors.New("range is full")
	// ErrAllocated means the requested port is taken.
	ErrAllocated = errors.New("provided port is already allocated")
	// ErrMismatchedRange means the stored bitmap is for another range (the
	// flag changed); the repair loop rewrites it.
	ErrMismatchedRange = errors.New("the provided range does not match the current range")
	// errNotInitialized means the repair loop has not written the bitmap
	// yet: allocating before that could reuse ports of existing Services.
	errNotInitialized = fmt.Errorf("cannot allocate resources of type %s at this time", NodePortAllocationsResource.String())
)

// ErrNotInRange means the requested port is outside the range.
type ErrNotInRange struct {
	ValidPorts string
}

func (e *ErrNotInRange) Error() string {
	return fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", e.ValidPorts)
}

// Allocator allocates ports of one range, persisted in a RangeStore.
type Allocator struct {
	portRange utilnet.PortRange
	// reserved is the size of the lower part of the range that random
	// allocation uses only when the upper part is full.
	reserved int
	store    RangeStore
}

// New returns an allocator of portRange persisted in store.
func New(portRange utilnet.PortRange, store RangeStore) *Allocator {
	return &Allocator{portRange: portRange, reserved: reservedPorts(portRange), store: store}
}

// Range is the allocator's port range.
func (a *Allocator) Range() utilnet.PortRange { return a.portRange }

// Allocate takes port, or fails with ErrNotInRange or ErrAllocated.
func (a *Allocator) Allocate(ctx context.Context, port int) error {
	offset, ok := a.offset(port)
	if !ok {
		return &ErrNotInRange{ValidPorts: a.portRange.String()}
	}
	return a.update(ctx, func(b *bitmap) error {
		if !b.set(offset) {
			return ErrAllocated
		}
		return nil
	})
}

// AllocateNext takes a free port chosen at random, or fails with ErrFull.
func (a *Allocator) AllocateNext(ctx context.Context) (int, error) {
	var port int
	err := a.update(ctx, func(b *bitmap) error {
		offset, ok := b.next(a.reserved)
		if !ok {
			return ErrFull
		}
		b.set(offset)
		port = a.portRange.Base + offset
		return nil
	})
	return port, err
}

// Release frees port. Releasing a free or out-of-range port does nothing.
func (a *Allocator) Release(ctx context.Context, port int) error {
	offset, ok := a.offset(port)
	if !ok {
		return nil
	}
	return a.update(ctx, func(b *bitmap) error {
		b.clear(offset)
		return nil
	})
}

// Has reports whether port is taken.
func (a *Allocator) Has(ctx context.Context, port int) (bool, error) {
	offset, ok := a.offset(port)
	if !ok {
		return false, nil
	}
	b, err := a.read(ctx)
	if err != nil {
		return false, err
	}
	return b.has(offset), nil
}

// Free returns a free port without taking it (for dry runs).
func (a *Allocator) Free(ctx context.Context, exclude map[int]bool) (int, error) {
	b, err := a.read(ctx)
	if err != nil {
		return 0, err
	}
	for p := range exclude {
		if offset, ok := a.offset(p); ok {
			b.set(offset)
		}
	}
	offset, ok := b.next(a.reserved)
	if !ok {
		return 0, ErrFull
	}
	return a.portRange.Base + offset, nil
}

// ForEach calls fn for every taken port.
func (a *Allocator) ForEach(ctx context.Context, fn func(port int)) error {
	b, err := a.read(ctx)
	if err != nil {
		return err
	}
	b.forEach(func(offset int) { fn(a.portRange.Base + offset) })
	return nil
}

func (a *Allocator) offset(port int) (int, bool) {
	if !a.portRange.Contains(port) {
		return 0, false
	}
	return port - a.portRange.Base, true
}

func (a *Allocator) read(ctx context.Context) (*bitmap, error) {
	stored, err := a.store.Get(ctx)
	if err != nil {
		return nil, err
	}
	if stored.ResourceVersion == "" {
		return nil, errNotInitialized
	}
	if stored.Range != a.portRange.String() {
		return nil, ErrMismatchedRange
	}
	return restoreBitmap(a.portRange.Size, stored.Data), nil
}

// update applies change to the stored bitmap in one compare-and-swap. The
// bitmap is rebuilt from the stored object on every attempt, so a failed or
// conflicting attempt leaves nothing behind.
func (a *Allocator) update(ctx context.Context, change func(b *bitmap) error) error {
	return a.store.Update(ctx, func(existing *corev1.RangeAllocation) (*corev1.RangeAllocation, error) {
		if existing.ResourceVersion == "" {
			return nil, errNotInitialized
		}
		if existing.Range != a.portRange.String() {
			return nil, ErrMismatchedRange
		}
		b := restoreBitmap(a.portRange.Size, existing.Data)
		if err := change(b); err != nil {
			return nil, err
		}
		out := existing.DeepCopy()
		out.Data = b.bytes()
		return out, nil
	})
}

// reservedPorts is upstream's size of the lower band of the range that
// dynamic allocation avoids: min(max(16, size/32), 128), none for ranges of
// 16 ports or fewer.
func reservedPorts(pr utilnet.PortRange) int {
	const (
		lower = 16
		upper = 128
		step  = 32
	)
	if pr.Size <= lower {
		return 0
	}
	return min(max(pr.Size/step, lower), upper)
}
