package portallocator

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// fakeRangeStore is an in-memory RangeStore with etcd's compare-and-swap
// semantics: tryUpdate runs outside the lock and the write fails (and is
// retried) if another writer got in between.
type fakeRangeStore struct {
	mu     sync.Mutex
	stored *corev1.RangeAllocation
	rv     int
}

func (s *fakeRangeStore) Get(ctx context.Context) (*corev1.RangeAllocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stored == nil {
		return &corev1.RangeAllocation{}, nil
	}
	return s.stored.DeepCopy(), nil
}

func (s *fakeRangeStore) Update(ctx context.Context, tryUpdate func(existing *corev1.RangeAllocation) (*corev1.RangeAllocation, error)) error {
	for {
		existing, _ := s.Get(ctx)
		out, err := tryUpdate(existing)
		if err != nil {
			return err
		}
		s.mu.Lock()
		current := ""
		if s.stored != nil {
			current = s.stored.ResourceVersion
		}
		if current != existing.ResourceVersion {
			s.mu.Unlock()
			continue
		}
		s.rv++
		out = out.DeepCopy()
		out.ResourceVersion = strconv.Itoa(s.rv)
		s.stored = out
		s.mu.Unlock()
		return nil
	}
}

func mustRange(t *testing.T, spec string) utilnet.PortRange {
	t.Helper()
	pr, err := utilnet.ParsePortRange(spec)
	if err != nil {
		t.Fatal(err)
	}
	return *pr
}

// initialized returns a store whose bitmap exists, as after the first repair.
func initialized(t *testing.T, pr utilnet.PortRange) *fakeRangeStore {
	t.Helper()
	s := &fakeRangeStore{}
	if err := NewRepair(0, fakeServices(), nil, pr, s).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAllocateBeforeInitialization(t *testing.T) {
	a := New(mustRange(t, "30000-30010"), &fakeRangeStore{})
	if err := a.Allocate(context.Background(), 30001); !errors.Is(err, errNotInitialized) {
		t.Fatalf("Allocate on an uninitialized store: got %v, want %v", err, errNotInitialized)
	}
}

func TestAllocateConflictAndRelease(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	a := New(pr, initialized(t, pr))

	if err := a.Allocate(ctx, 30080); err != nil {
		t.Fatalf("first Allocate: %v", err)
	}
	err := a.Allocate(ctx, 30080)
	if !errors.Is(err, ErrAllocated) || err.Error() != "provided port is already allocated" {
		t.Fatalf("second Allocate: got %v, want %q", err, ErrAllocated)
	}
	if has, _ := a.Has(ctx, 30080); !has {
		t.Fatal("30080 not recorded")
	}
	if err := a.Release(ctx, 30080); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if has, _ := a.Has(ctx, 30080); has {
		t.Fatal("30080 still recorded after release")
	}
	if err := a.Allocate(ctx, 30080); err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	// Releasing a free or foreign port is harmless.
	if err := a.Release(ctx, 30081); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, 80); err != nil {
		t.Fatal(err)
	}
}

func TestAllocateOutOfRange(t *testing.T) {
	pr := mustRange(t, "30000-32767")
	a := New(pr, initialized(t, pr))
	for _, port := range []int{29999, 32768, 80} {
		err := a.Allocate(context.Background(), port)
		want := "provided port is not in the valid range. The range of valid ports is 30000-32767"
		var notInRange *ErrNotInRange
		if !errors.As(err, &notInRange) || err.Error() != want {
			t.Errorf("Allocate(%d): got %v, want %q", port, err, want)
		}
	}
}

func TestAllocateNextExhaustsRange(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-30049")
	a := New(pr, initialized(t, pr))
	seen := map[int]bool{}
	for i := 0; i < pr.Size; i++ {
		port, err := a.AllocateNext(ctx)
		if err != nil {
			t.Fatalf("AllocateNext #%d: %v", i, err)
		}
		if !pr.Contains(port) || seen[port] {
			t.Fatalf("AllocateNext #%d returned %d (in range: %v, duplicate: %v)", i, port, pr.Contains(port), seen[port])
		}
		seen[port] = true
	}
	if _, err := a.AllocateNext(ctx); !errors.Is(err, ErrFull) {
		t.Fatalf("AllocateNext on a full range: got %v, want %v", err, ErrFull)
	}
	if err := a.Release(ctx, 30007); err != nil {
		t.Fatal(err)
	}
	if port, err := a.AllocateNext(ctx); err != nil || port != 30007 {
		t.Fatalf("AllocateNext after one release: got %d, %v; want 30007", port, err)
	}
}

func TestAllocateNextPrefersUpperBand(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	a := New(pr, initialized(t, pr))
	reserved := reservedPorts(pr)
	if reserved != 86 {
		t.Fatalf("reserved band of 30000-32767 is %d, upstream's is 86", reserved)
	}
	for i := 0; i < 50; i++ {
		port, err := a.AllocateNext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if port < pr.Base+reserved {
			t.Fatalf("dynamic allocation took %d from the reserved lower band", port)
		}
	}
}

// Two allocators on one store stand for two API servers sharing etcd.
func TestConcurrentAllocationHasNoDuplicates(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-30199")
	store := initialized(t, pr)
	allocators := []*Allocator{New(pr, store), New(pr, store)}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[int]int{}
		fails int
	)
	for i := 0; i < 250; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var port int
			var err error
			if i%5 == 0 {
				// Some ask for a specific port, fighting the dynamic ones.
				port = 30000 + i%pr.Size
				err = allocators[i%2].Allocate(ctx, port)
			} else {
				port, err = allocators[i%2].AllocateNext(ctx)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				return
			}
			got[port]++
		}(i)
	}
	wg.Wait()
	for port, n := range got {
		if n > 1 {
			t.Errorf("port %d handed out %d times", port, n)
		}
	}
	if len(got) != pr.Size {
		t.Errorf("%d ports handed out, want the whole range (%d)", len(got), pr.Size)
	}
	if len(got)+fails != 250 {
		t.Errorf("%d successes + %d failures != 250 requests", len(got), fails)
	}
	var stored int
	_ = allocators[0].ForEach(ctx, func(int) { stored++ })
	if stored != pr.Size {
		t.Errorf("store records %d ports, want %d", stored, pr.Size)
	}
}

func TestOperationRollbackAndCommit(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	a := New(pr, initialized(t, pr))
	if err := a.Allocate(ctx, 30500); err != nil {
		t.Fatal(err)
	}

	// A failed write gives back what it took and keeps what it meant to free.
	op := StartOperation(a, false)
	if err := op.Allocate(ctx, 30100); err != nil {
		t.Fatal(err)
	}
	next, err := op.AllocateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	op.ReleaseDeferred(30500)
	if err := op.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[int]bool{30100: false, next: false, 30500: true} {
		if has, _ := a.Has(ctx, port); has != want {
			t.Errorf("after rollback, port %d taken = %v, want %v", port, has, want)
		}
	}

	// A successful one keeps what it took and frees what it meant to.
	op = StartOperation(a, false)
	if err := op.Allocate(ctx, 30100); err != nil {
		t.Fatal(err)
	}
	op.ReleaseDeferred(30500)
	if err := op.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[int]bool{30100: true, 30500: false} {
		if has, _ := a.Has(ctx, port); has != want {
			t.Errorf("after commit, port %d taken = %v, want %v", port, has, want)
		}
	}
}

func TestDryRunOperationPersistsNothing(t *testing.T) {
	ctx := context.Background()
	pr := mustRange(t, "30000-32767")
	store := initialized(t, pr)
	a := New(pr, store)
	if err := a.Allocate(ctx, 30200); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Get(ctx)

	op := StartOperation(a, true)
	if err := op.Allocate(ctx, 30200); !errors.Is(err, ErrAllocated) {
		t.Errorf("dry-run Allocate of a taken port: got %v, want %v", err, ErrAllocated)
	}
	var notInRange *ErrNotInRange
	if err := op.Allocate(ctx, 80); !errors.As(err, &notInRange) {
		t.Errorf("dry-run Allocate out of range: got %v, want ErrNotInRange", err)
	}
	if err := op.Allocate(ctx, 30300); err != nil {
		t.Errorf("dry-run Allocate of a free port: %v", err)
	}
	if err := op.Allocate(ctx, 30300); !errors.Is(err, ErrAllocated) {
		t.Errorf("dry-run Allocate twice in one operation: got %v, want %v", err, ErrAllocated)
	}
	next, err := op.AllocateNext(ctx)
	if err != nil || !pr.Contains(next) || next == 30200 || next == 30300 {
		t.Errorf("dry-run AllocateNext: got %d, %v", next, err)
	}
	op.ReleaseDeferred(30200)
	if err := op.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := store.Get(ctx)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("dry run wrote the bitmap (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestMismatchedStoredRange(t *testing.T) {
	old := mustRange(t, "30000-30099")
	store := initialized(t, old)
	a := New(mustRange(t, "30000-32767"), store)
	if _, err := a.AllocateNext(context.Background()); !errors.Is(err, ErrMismatchedRange) {
		t.Fatalf("AllocateNext against a bitmap for another range: got %v, want %v", err, ErrMismatchedRange)
	}
}
