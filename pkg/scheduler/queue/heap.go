package queue

import (
	"container/heap"
)

// keyedHeap is a heap of items addressable by key.
type keyedHeap[T any] struct {
	data  heapData[T]
	keyOf func(T) string
}

type heapData[T any] struct {
	items []T
	index map[string]int
	keyOf func(T) string
	less  func(a, b T) bool
}

func (h *heapData[T]) Len() int           { return len(h.items) }
func (h *heapData[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *heapData[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.keyOf(h.items[i])] = i
	h.index[h.keyOf(h.items[j])] = j
}
func (h *heapData[T]) Push(x any) {
	it := x.(T)
	h.index[h.keyOf(it)] = len(h.items)
	h.items = append(h.items, it)
}
func (h *heapData[T]) Pop() any {
	n := len(h.items)
	it := h.items[n-1]
	var zero T
	h.items[n-1] = zero
	h.items = h.items[:n-1]
	delete(h.index, h.keyOf(it))
	return it
}

func newKeyedHeap[T any](keyOf func(T) string, less func(a, b T) bool) *keyedHeap[T] {
	return &keyedHeap[T]{data: heapData[T]{index: map[string]int{}, keyOf: keyOf, less: less}, keyOf: keyOf}
}

// AddOrUpdate inserts it or replaces the item with its key.
func (h *keyedHeap[T]) AddOrUpdate(it T) {
	key := h.keyOf(it)
	if i, ok := h.data.index[key]; ok {
		h.data.items[i] = it
		heap.Fix(&h.data, i)
		return
	}
	heap.Push(&h.data, it)
}

// Get returns the item with key.
func (h *keyedHeap[T]) Get(key string) (T, bool) {
	if i, ok := h.data.index[key]; ok {
		return h.data.items[i], true
	}
	var zero T
	return zero, false
}

// Has reports whether key is in the heap.
func (h *keyedHeap[T]) Has(key string) bool {
	_, ok := h.data.index[key]
	return ok
}

// Delete removes key.
func (h *keyedHeap[T]) Delete(key string) (T, bool) {
	if i, ok := h.data.index[key]; ok {
		it := heap.Remove(&h.data, i).(T)
		return it, true
	}
	var zero T
	return zero, false
}

// Peek returns the top item.
func (h *keyedHeap[T]) Peek() (T, bool) {
	if len(h.data.items) == 0 {
		var zero T
		return zero, false
	}
	return h.data.items[0], true
}

// Pop removes the top item.
func (h *keyedHeap[T]) Pop() (T, bool) {
	if len(h.data.items) == 0 {
		var zero T
		return zero, false
	}
	return heap.Pop(&h.data).(T), true
}

// Len counts items.
func (h *keyedHeap[T]) Len() int { return len(h.data.items) }

// List returns the items in heap order (not sorted).
func (h *keyedHeap[T]) List() []T { return append([]T(nil), h.data.items...) }
