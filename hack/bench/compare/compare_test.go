package main

import (
	"reflect"
	"testing"
)

func TestOrderedAlternates(t *testing.T) {
	sides := []string{skiff, upstream}
	if got := ordered(sides, 0); !reflect.DeepEqual(got, []string{skiff, upstream}) {
		t.Errorf("round 0: %v", got)
	}
	if got := ordered(sides, 1); !reflect.DeepEqual(got, []string{upstream, skiff}) {
		t.Errorf("round 1: %v", got)
	}
	if !reflect.DeepEqual(sides, []string{skiff, upstream}) {
		t.Errorf("ordered changed its input: %v", sides)
	}
}

func TestMedianAndRatio(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median(3,1,2) = %g", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median(4,1,2,3) = %g", m)
	}
	if r := ratio(50, 100); r != "0.50" {
		t.Errorf("ratio(50,100) = %s", r)
	}
	if r := ratio(0, 100); r != "—" {
		t.Errorf("ratio with a missing side = %s, want a dash", r)
	}
}

func TestPortsDoNotOverlap(t *testing.T) {
	seen := map[int]string{}
	for _, side := range []string{skiff, upstream} {
		p := portsFor(17743, side)
		for _, port := range []int{p.api, p.etcdClient, p.etcdPeer, p.controllerManager, p.scheduler} {
			if other, ok := seen[port]; ok {
				t.Errorf("port %d used by %s and %s", port, other, side)
			}
			if port < 17743 || port > 17760 {
				t.Errorf("port %d outside the bench's range", port)
			}
			seen[port] = side
		}
	}
}
