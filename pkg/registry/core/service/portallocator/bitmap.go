package portallocator

import (
	"math/big"
	"math/bits"
	"math/rand/v2"
)

// bitmap records which offsets of a range are taken. Its serialized form
// (big-endian bytes of a big.Int whose bit i is offset i) is upstream's, so a
// RangeAllocation written by kube-apiserver reads the same here.
type bitmap struct {
	size  int
	bits  *big.Int
	count int
}

func newBitmap(size int) *bitmap {
	return &bitmap{size: size, bits: big.NewInt(0)}
}

// restoreBitmap reads a snapshot's data.
func restoreBitmap(size int, data []byte) *bitmap {
	b := &bitmap{size: size, bits: new(big.Int).SetBytes(data)}
	for _, w := range b.bits.Bits() {
		b.count += bits.OnesCount64(uint64(w))
	}
	return b
}

func (b *bitmap) has(offset int) bool { return b.bits.Bit(offset) == 1 }

// set marks offset as taken; it reports false if it already was.
func (b *bitmap) set(offset int) bool {
	if b.has(offset) {
		return false
	}
	b.bits.SetBit(b.bits, offset, 1)
	b.count++
	return true
}

func (b *bitmap) clear(offset int) {
	if !b.has(offset) {
		return
	}
	b.bits.SetBit(b.bits, offset, 0)
	b.count--
}

func (b *bitmap) bytes() []byte { return b.bits.Bytes() }

// forEach calls fn for every taken offset, in increasing order.
func (b *bitmap) forEach(fn func(offset int)) {
	for i := 0; i < b.bits.BitLen(); i++ {
		if b.bits.Bit(i) == 1 {
			fn(i)
		}
	}
}

// next picks a free offset at random, preferring the upper part of the
// range (at or above reserved) as upstream does (KEP-3668): the lower part is
// left for users who ask for a specific port.
func (b *bitmap) next(reserved int) (int, bool) {
	if b.count >= b.size {
		return 0, false
	}
	if off, ok := b.scan(reserved, b.size); ok {
		return off, true
	}
	return b.scan(0, reserved)
}

// scan looks for a free offset in [from, to), starting at a random place.
func (b *bitmap) scan(from, to int) (int, bool) {
	n := to - from
	if n <= 0 {
		return 0, false
	}
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		at := from + (start+i)%n
		if !b.has(at) {
			return at, true
		}
	}
	return 0, false
}
