package memlimit

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The limit is the memory beyond the heap, the live heap and half of it
// again, never less than MinHeadroom above what is live: it cannot sit
// at or below the live heap, where the GC would run without pause.
func TestLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		s    Sample
		want int64
	}{
		{"nothing live yet", Sample{}, MinHeadroom},
		{"small heap: the least headroom", Sample{Live: 20 * mib, Other: 10 * mib}, 30*mib + MinHeadroom},
		{"idle agents: half the live heap", Sample{Live: 300 * mib, Other: 120 * mib}, 420*mib + 150*mib},
		{"a big publish", Sample{Live: 2048 * mib, Other: 16 * mib}, 2064*mib + 1024*mib},
		{"past int64", Sample{Live: math.MaxUint64 / 2, Other: math.MaxUint64 / 2}, math.MaxInt64},
	} {
		if got := Limit(tc.s); got != tc.want {
			t.Errorf("%s: Limit(%+v) = %d, want %d", tc.name, tc.s, got, tc.want)
		}
		if live := float64(tc.s.Live) + float64(tc.s.Other); float64(Limit(tc.s)) < min(live, math.MaxInt64) {
			t.Errorf("%s: Limit %d below what is held, %.0f", tc.name, Limit(tc.s), live)
		}
	}
}

// What Read counts beyond the heap is what the runtime's limit counts
// beyond it: stacks and metadata, a few MiB here, not the heap itself.
func TestReadOther(t *testing.T) {
	hold := make([]byte, 64<<20)
	runtime.GC()
	s := Read()
	if s.Live < uint64(len(hold)) {
		t.Errorf("live heap %d, want at least the %d held", s.Live, len(hold))
	}
	if s.Other == 0 || s.Other >= uint64(len(hold)) {
		t.Errorf("other memory %d: want some, and not the %d of heap held", s.Other, len(hold))
	}
	if s.Cycles == 0 {
		t.Error("no collection counted after runtime.GC")
	}
	runtime.KeepAlive(hold)
}

// Run sets the limit Limit derives from the live heap, and puts back the
// limit it found when its context ends.
func TestRunSetsAndRestores(t *testing.T) {
	found := debug.SetMemoryLimit(-1)
	runtime.GC()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) == found {
		if time.Now().After(deadline) {
			t.Fatal("no limit set within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, s := debug.SetMemoryLimit(-1), Read()
	if got < MinHeadroom || got > 2*Limit(s) {
		t.Errorf("limit %d, want near Limit(%+v) = %d", got, s, Limit(s))
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != found {
		t.Errorf("limit after Run ended %d, want the %d it found", got, found)
	}
}
