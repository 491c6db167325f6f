package ipallocator

import (
	"net/netip"
	"testing"
)

func TestCIDRRange(t *testing.T) {
	tests := []struct {
		cidr                     string
		first, last, offset      string
		size, reserved           uint64
		contains, doesNotContain []string
	}{
		{
			cidr: "10.96.0.0/12", first: "10.96.0.1", last: "10.111.255.254", offset: "10.96.1.1",
			size: 1<<20 - 2, reserved: 256,
			contains:       []string{"10.96.0.1", "10.96.0.10", "10.111.255.254"},
			doesNotContain: []string{"10.96.0.0", "10.111.255.255", "10.112.0.1", "192.168.0.1"},
		},
		{
			cidr: "192.168.0.0/28", first: "192.168.0.1", last: "192.168.0.14", offset: "192.168.0.1",
			size: 14, reserved: 0,
			contains:       []string{"192.168.0.1", "192.168.0.14"},
			doesNotContain: []string{"192.168.0.0", "192.168.0.15"},
		},
		{
			cidr: "192.168.0.0/24", first: "192.168.0.1", last: "192.168.0.254", offset: "192.168.0.17",
			size: 254, reserved: 16,
		},
		{
			// IPv6 keeps its last address; only the network address is out.
			cidr: "fd00::/120", first: "fd00::1", last: "fd00::ff", offset: "fd00::11",
			size: 255, reserved: 16,
			contains:       []string{"fd00::ff"},
			doesNotContain: []string{"fd00::"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			r, err := newCIDRRange(netip.MustParsePrefix(tc.cidr))
			if err != nil {
				t.Fatal(err)
			}
			if r.first.String() != tc.first || r.last.String() != tc.last || r.offsetAddr.String() != tc.offset {
				t.Errorf("first/last/offset = %s/%s/%s, want %s/%s/%s", r.first, r.last, r.offsetAddr, tc.first, tc.last, tc.offset)
			}
			if r.size != tc.size || r.reserved != tc.reserved {
				t.Errorf("size/reserved = %d/%d, want %d/%d", r.size, r.reserved, tc.size, tc.reserved)
			}
			for _, a := range tc.contains {
				if !r.contains(netip.MustParseAddr(a)) {
					t.Errorf("%s should be allocatable", a)
				}
			}
			for _, a := range tc.doesNotContain {
				if r.contains(netip.MustParseAddr(a)) {
					t.Errorf("%s should not be allocatable", a)
				}
			}
		})
	}
}

func TestCIDRRangeRejectsLargeIPv6(t *testing.T) {
	if _, err := newCIDRRange(netip.MustParsePrefix("fd00::/48")); err == nil {
		t.Fatal("a /48 IPv6 service CIDR was accepted; upstream's shortest is /64")
	}
}

// Candidates visit every allocatable address once, the upper part first.
func TestCandidatesCoverRangeUpperFirst(t *testing.T) {
	r, err := newCIDRRange(netip.MustParsePrefix("10.0.0.0/26"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	inLower := false
	next := r.candidates()
	for a := next(); a.IsValid(); a = next() {
		if seen[a] {
			t.Fatalf("%s visited twice", a)
		}
		if !r.contains(a) {
			t.Fatalf("%s is not allocatable", a)
		}
		lower := a.Less(r.offsetAddr)
		if inLower && !lower {
			t.Fatalf("%s of the upper part visited after the lower part", a)
		}
		inLower = lower
		seen[a] = true
	}
	if uint64(len(seen)) != r.size {
		t.Fatalf("visited %d addresses, the range has %d", len(seen), r.size)
	}
}
