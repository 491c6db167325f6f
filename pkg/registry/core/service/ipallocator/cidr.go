package ipallocator

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
)

// cidrRange is the allocatable part of one Service CIDR: every address but
// the network address and, for IPv4, the broadcast address. Dynamic
// allocation starts in the upper part of it (at or after offsetAddr) and
// falls back to the lower part, which is left for users who ask for a
// specific IP (KEP-3070), as upstream does.
type cidrRange struct {
	prefix     netip.Prefix
	first      netip.Addr
	last       netip.Addr
	offsetAddr netip.Addr
	// reserved is the size of the lower part; size the number of
	// allocatable addresses (capped at MaxUint64).
	reserved uint64
	size     uint64
}

func newCIDRRange(prefix netip.Prefix) (*cidrRange, error) {
	prefix = prefix.Masked()
	if prefix.Addr().Is6() && prefix.Bits() < 64 {
		return nil, fmt.Errorf("shortest allowed prefix length for service CIDR is 64, got %d", prefix.Bits())
	}
	r := &cidrRange{prefix: prefix, first: prefix.Addr().Next()}
	r.last = broadcast(prefix)
	if prefix.Addr().Is4() {
		r.last = r.last.Prev()
	}
	hostBits := prefix.Addr().BitLen() - prefix.Bits()
	switch {
	case hostBits >= 64:
		r.size = math.MaxUint64
	case hostBits == 0:
		r.size = 0
	default:
		r.size = uint64(1)<<hostBits - 1
		if prefix.Addr().Is4() && r.size > 0 {
			r.size--
		}
	}
	r.reserved = reservedAddresses(hostBits)
	if !r.first.IsValid() || (r.size > 0 && r.last.Less(r.first)) {
		r.size = 0
	}
	r.offsetAddr = addOffset(r.first, r.reserved)
	return r, nil
}

// contains reports whether addr is allocatable in this range.
func (r *cidrRange) contains(addr netip.Addr) bool {
	return r.size > 0 && !addr.Less(r.first) && !r.last.Less(addr)
}

// candidates returns an iterator over the range's addresses in the order
// dynamic allocation tries them: the upper part from a random place, then
// the lower part from a random place. It returns an invalid address when
// done.
func (r *cidrRange) candidates() func() netip.Addr {
	if r.size == 0 {
		return func() netip.Addr { return netip.Addr{} }
	}
	upper := ring(r.offsetAddr, r.last, randomBelow(r.size-r.reserved))
	var lower func() netip.Addr
	return func() netip.Addr {
		if a := upper(); a.IsValid() {
			return a
		}
		if r.reserved == 0 {
			return netip.Addr{}
		}
		if lower == nil {
			lower = ring(r.first, r.offsetAddr.Prev(), randomBelow(r.reserved))
		}
		return lower()
	}
}

// ring iterates once over [first, last], starting at first+offset and
// wrapping around.
func ring(first, last netip.Addr, offset uint64) func() netip.Addr {
	start := addOffset(first, offset)
	if !start.IsValid() || last.Less(start) {
		start = first
	}
	cur, done := start, false
	return func() netip.Addr {
		if done {
			return netip.Addr{}
		}
		out := cur
		cur = cur.Next()
		if !cur.IsValid() || last.Less(cur) {
			cur = first
		}
		if cur == start {
			done = true
		}
		return out
	}
}

func randomBelow(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return rand.Uint64N(n)
}

// reservedAddresses is upstream's size of the lower part of a range with
// hostBits host bits: min(max(16, size/16), 256), none for 16 addresses or
// fewer.
func reservedAddresses(hostBits int) uint64 {
	const (
		lower = 16
		upper = 256
		step  = 16
	)
	if hostBits >= 63 {
		return upper
	}
	size := uint64(1) << hostBits
	if size <= lower {
		return 0
	}
	return min(max(size/step, lower), upper)
}

// addOffset returns addr+offset, or an invalid address on overflow.
func addOffset(addr netip.Addr, offset uint64) netip.Addr {
	b := addr.AsSlice()
	sum := new(big.Int).Add(new(big.Int).SetBytes(b), new(big.Int).SetUint64(offset)).Bytes()
	if len(sum) > len(b) {
		return netip.Addr{}
	}
	out := make([]byte, len(b))
	copy(out[len(b)-len(sum):], sum)
	a, _ := netip.AddrFromSlice(out)
	return a
}

// broadcast is the last address of prefix.
func broadcast(prefix netip.Prefix) netip.Addr {
	b := prefix.Masked().Addr().AsSlice()
	hostBits := len(b)*8 - prefix.Bits()
	for i := len(b) - 1; i >= 0 && hostBits > 0; i-- {
		if hostBits >= 8 {
			b[i] = 0xff
			hostBits -= 8
			continue
		}
		b[i] |= byte(0xff >> (8 - hostBits))
		hostBits = 0
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
