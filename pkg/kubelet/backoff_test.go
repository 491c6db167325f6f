package kubelet

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(10*time.Second, 40*time.Second)
	t0 := time.Unix(1000, 0)
	if in, _ := b.inBackoffSince("k", t0, t0); in {
		t.Fatal("the first failure must restart at once")
	}
	b.next("k", t0)
	if in, left := b.inBackoffSince("k", t0, t0.Add(3*time.Second)); !in || left != 7*time.Second {
		t.Fatalf("after one failure: in=%v left=%v, want 7s left", in, left)
	}
	if in, _ := b.inBackoffSince("k", t0, t0.Add(11*time.Second)); in {
		t.Fatal("back-off must end after 10s")
	}
	for i, want := range []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second} {
		b.next("k", t0.Add(time.Duration(i+1)*time.Minute/4))
		if got := b.get("k"); got != want {
			t.Fatalf("delay %d = %v, want %v", i, got, want)
		}
	}
	// Quiet for more than twice the maximum: start over.
	late := t0.Add(10 * time.Minute)
	if in, _ := b.inBackoffSince("k", late, late); in {
		t.Fatal("an old entry must be forgotten")
	}
	b.next("k", late)
	if got := b.get("k"); got != 10*time.Second {
		t.Fatalf("after a quiet period the delay = %v, want 10s", got)
	}
	b.forgetPrefix("k")
	if b.get("k") != 0 {
		t.Fatal("forgetPrefix kept the entry")
	}
}
