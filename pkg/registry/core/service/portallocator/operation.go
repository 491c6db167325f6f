package portallocator

import (
	"context"
	"errors"
	"slices"
)

// Operation groups the port changes of one Service write: ports taken along
// the way are given back if the write fails (Finish without Commit), and
// ports to free are freed only once it succeeded (Commit). A dry-run
// operation checks requests against the stored state and picks free ports
// but never writes.
type Operation struct {
	alloc           *Allocator
	dryRun          bool
	allocated       []int
	releaseDeferred []int
	committed       bool
}

// StartOperation begins an operation on alloc.
func StartOperation(alloc *Allocator, dryRun bool) *Operation {
	return &Operation{alloc: alloc, dryRun: dryRun}
}

// Allocate takes port for the operation.
func (op *Operation) Allocate(ctx context.Context, port int) error {
	if !op.dryRun {
		if err := op.alloc.Allocate(ctx, port); err != nil {
			return err
		}
		op.allocated = append(op.allocated, port)
		return nil
	}
	if !op.alloc.portRange.Contains(port) {
		return &ErrNotInRange{ValidPorts: op.alloc.portRange.String()}
	}
	taken, err := op.alloc.Has(ctx, port)
	if err != nil {
		return err
	}
	if taken || slices.Contains(op.allocated, port) {
		return ErrAllocated
	}
	op.allocated = append(op.allocated, port)
	return nil
}

// AllocateNext takes a free port for the operation.
func (op *Operation) AllocateNext(ctx context.Context) (int, error) {
	if !op.dryRun {
		port, err := op.alloc.AllocateNext(ctx)
		if err != nil {
			return 0, err
		}
		op.allocated = append(op.allocated, port)
		return port, nil
	}
	exclude := map[int]bool{}
	for _, p := range op.allocated {
		exclude[p] = true
	}
	port, err := op.alloc.Free(ctx, exclude)
	if err != nil {
		return 0, err
	}
	op.allocated = append(op.allocated, port)
	return port, nil
}

// ReleaseDeferred frees port when the operation is committed.
func (op *Operation) ReleaseDeferred(port int) {
	op.releaseDeferred = append(op.releaseDeferred, port)
}

// Commit keeps the allocations and frees the deferred releases.
func (op *Operation) Commit(ctx context.Context) error {
	op.committed = true
	if op.dryRun {
		return nil
	}
	var errs []error
	for _, port := range op.releaseDeferred {
		if err := op.alloc.Release(ctx, port); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Finish gives back the operation's allocations unless it was committed.
func (op *Operation) Finish(ctx context.Context) error {
	if op.committed || op.dryRun {
		return nil
	}
	var errs []error
	for _, port := range op.allocated {
		if err := op.alloc.Release(ctx, port); err != nil {
			errs = append(errs, err)
		}
	}
	op.allocated = nil
	return errors.Join(errs...)
}
