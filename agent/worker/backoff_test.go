package worker

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestBackoffFullJitter(t *testing.T) {
	lo, hi := time.Second, time.Minute
	for failures := 1; failures <= 12; failures++ {
		ceiling := min(hi, lo<<failures)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(failures, lo, hi)
			if d < lo || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, lo, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d) took only %d distinct values in 200 draws: no jitter", failures, len(seen))
		}
	}
	if d := backoff(1000, lo, hi); d > hi {
		t.Errorf("backoff after many failures = %v, over the cap %v", d, hi)
	}
}

func TestMappingProgress(t *testing.T) {
	last := 0
	for _, n := range []int{0, 1000, 10000, 100000, 10000000} {
		p := mappingProgress(n)
		if p < 40 || p > 78 || p < last {
			t.Errorf("mappingProgress(%d) = %d; want 40..78, never falling (was %d)", n, p, last)
		}
		last = p
	}
}

// TestBusyWaitJitter: the wait after a busy refusal is at least its
// Retry-After (protocol.BusyRetry when it said none) and at most twice
// that, spread between.
func TestBusyWaitJitter(t *testing.T) {
	for _, after := range []time.Duration{0, time.Second, 7 * time.Second} {
		floor := after
		if floor == 0 {
			floor = protocol.BusyRetry
		}
		seen := map[time.Duration]bool{}
		for range 200 {
			d := (&BusyError{After: after}).wait()
			if d < floor || d > 2*floor {
				t.Fatalf("wait after Retry-After %v = %v, want within [%v, %v]", after, d, floor, 2*floor)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("wait after Retry-After %v took only %d distinct values in 200 draws: no jitter", after, len(seen))
		}
	}
}
