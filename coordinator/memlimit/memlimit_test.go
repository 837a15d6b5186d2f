package memlimit

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

// goal is the heap goal the runtime derives from limit l for the process
// sampled in s: the limit less what it counts beyond the heap's objects,
// less its own headroom (5%, at least 1 MiB).
func goal(s Sample, l int64) float64 {
	g := float64(l) - float64(s.Other) - float64(s.Holes)
	return g - max(g*runtimeHeadroom, mib)
}

// While calm the runtime's heap goal under the limit is the live heap and
// half of it again, never less than MinHeadroom above it, however many
// holes the heap's spans hold: the limit cannot leave the goal at or
// below what is live, where the GC would run without pause. (An idle
// coordinator after the quiet collection holds more holes than room:
// counted as room, they left its goal at the live heap.)
func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Sample
		room float64
	}{
		{"nothing live yet", Sample{}, MinHeadroom},
		{"small heap: the least headroom", Sample{Live: 20 * mib, Other: 10 * mib}, MinHeadroom},
		{"idle coordinator after the quiet collection: more holes than room", Sample{Live: 29 * mib, Other: 20 * mib, Holes: 24 * mib}, MinHeadroom},
		{"idle agents: half the live heap", Sample{Live: 300 * mib, Other: 120 * mib, Holes: 200 * mib}, 150 * mib},
		{"a big publish", Sample{Live: 2048 * mib, Other: 16 * mib, Holes: 64 * mib}, 1024 * mib},
	} {
		l := Limit(tc.s)
		want := float64(tc.s.Live) + tc.room
		if g := goal(tc.s, l); math.Abs(g-want) > want/1000 {
			t.Errorf("%s: Limit(%+v) = %d: heap goal %.1f MiB, want %.1f MiB", tc.name, tc.s, l, g/mib, want/mib)
		}
	}
	if got := Limit(Sample{Live: math.MaxUint64 / 2, Other: math.MaxUint64 / 2}); got != math.MaxInt64 {
		t.Errorf("past int64: Limit = %d, want %d", got, int64(math.MaxInt64))
	}
}

// While the GC is busy the runtime's heap goal under the limit is the
// live heap and room for what the heap allocates in Spacing, at least
// half the live heap and at most the live heap again, however many holes
// the heap's spans hold.
func TestBurstLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     Sample
		alloc float64
		room  float64
	}{
		{"small heap: the least headroom", Sample{Live: 20 * mib, Other: 10 * mib}, 0, MinHeadroom},
		{"slow: half the live heap", Sample{Live: 100 * mib, Other: 40 * mib, Holes: 30 * mib}, 8 * mib, 50 * mib},
		{"what it allocates in Spacing", Sample{Live: 100 * mib, Other: 40 * mib, Holes: 30 * mib}, 70 * mib, 70 * mib},
		{"faster: the live heap, as GOGC=100", Sample{Live: 100 * mib, Other: 40 * mib, Holes: 30 * mib}, 900 * mib, 100 * mib},
	} {
		l := BurstLimit(tc.s, tc.alloc)
		want := float64(tc.s.Live) + tc.room
		if g := goal(tc.s, l); math.Abs(g-want) > want/1000 {
			t.Errorf("%s: BurstLimit(%+v, %.0f) = %d: heap goal %.0f, want %.0f", tc.name, tc.s, tc.alloc, l, g, want)
		}
	}
}

// A connect storm as the coordinator saw it: the live heap growing from 20
// to 60 MiB over 40 s while the heap allocates 60 MiB a second, its spans
// full of holes, and the GC taking most of a core; then calm at 1 MiB a
// second with little GC. Through the storm, from its first Window, and
// for Quiet after it, the runtime's heap goal lets collections come at
// most every Spacing (or as GOGC=100 would) and the limit does not fall;
// once the GC has been calm over a Window and Quiet after, it is Limit's.
func TestPolicyBurst(t *testing.T) {
	var p Policy
	start := time.Unix(1_800_000_000, 0)
	s := Sample{At: start, Live: 20 * mib, Other: 30 * mib, Holes: 20 * mib}
	last := p.Limit(s)
	if last != Limit(s) {
		t.Fatalf("first sample: limit %d, want Limit's %d", last, Limit(s))
	}
	for i := 1; i <= 70; i++ {
		s.At = start.Add(time.Duration(i) * time.Second)
		storm := i <= 40
		rate, gc := uint64(mib), 0.02
		if storm {
			rate, gc = 60*mib, 0.6
			s.Live = uint64(20+i) * mib
			s.Other = uint64(30+i) * mib // the stacks grow with the handshakes
			s.Holes = s.Live / 2
		}
		s.Allocs += rate
		s.GCCPU += gc
		l := p.Limit(s)
		room := goal(s, l) - float64(s.Live)
		if room < MinHeadroom*0.999 {
			t.Fatalf("second %d: limit %d leaves a heap goal %.1f MiB above %d MiB live, %d MiB of holes: want at least MinHeadroom",
				i, l, room/mib, s.Live/mib, s.Holes/mib)
		}
		window := int(Window / time.Second)
		switch {
		case i < window:
			// Not yet a Window of samples: one busy second is no burst.
			if want := Limit(s); l != want {
				t.Fatalf("second %d, before a Window: limit %d, want Limit's %d", i, l, want)
			}
		case storm || i < 40+int(Quiet/time.Second):
			// Collections no more often than every Spacing, or as often
			// as GOGC=100 makes them when that is more.
			if want := min(float64(60*mib)*Spacing.Seconds(), float64(s.Live)); room < want*0.999 {
				t.Fatalf("second %d (storm %v): room %.1f MiB above %d MiB live, want at least %.1f MiB",
					i, storm, room/mib, s.Live/mib, want/mib)
			}
			if l < last {
				t.Fatalf("second %d: limit fell from %d to %d during the burst", i, last, l)
			}
		case i >= 40+window+int(Quiet/time.Second):
			if want := Limit(s); l != want {
				t.Fatalf("second %d, calm: limit %d, want Limit's %d", i, l, want)
			}
		}
		last = l
	}
}

// A publish as BenchmarkPublishCache's process saw it: a big live heap
// allocating fast, one or two collections a second that take little of a
// core, and now and then one collection of the big heap that takes a
// third of a core in its second. Its limit stays the calm one
// throughout (the room a burst gets is the publish's peak memory), and
// leaves the runtime's heap goal Headroom above the live heap, its holes
// counted against the limit.
func TestPolicyPublish(t *testing.T) {
	var p Policy
	start := time.Unix(1_800_000_000, 0)
	s := Sample{At: start, Live: 180 * mib, Other: 20 * mib, Holes: 30 * mib}
	for i := 1; i <= 60; i++ {
		s.At = start.Add(time.Duration(i) * time.Second)
		s.Allocs += 150 * mib
		s.Live = uint64(180+i%40) * mib
		gc := 0.03
		if i%5 == 0 {
			gc = 0.33
		}
		s.GCCPU += gc
		l, want := p.Limit(s), Limit(s)
		if l != want {
			t.Fatalf("second %d (GC %.2f of a core): limit %d, want the calm limit %d", i, gc, l, want)
		}
		if room, most := goal(s, l)-float64(s.Live), float64(s.Live)*Headroom; math.Abs(room-most) > most/1000 {
			t.Fatalf("second %d: heap goal %.1f MiB above %d MiB live, want Headroom of it, %.1f MiB", i, room/mib, s.Live/mib, most/mib)
		}
	}
}

var held [][]byte

// The runtime's own heap goal under a burst's limit leaves the room
// BurstLimit means, even in a heap full of holes (what a burst leaves once
// its garbage is collected): the holes count against the limit as the
// runtime reckons it, not as room.
func TestLimitRoomInAFragmentedHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	// Collected and the free spans returned, as after the quiet
	// collection (free spans not yet returned count against the limit
	// too, until the runtime's scavenger returns them).
	defer fragment()()
	s := Read()
	debug.SetMemoryLimit(BurstLimit(s, 0))
	ms := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(ms)
	// GOGC=100's goal (twice the live heap) is the lower when little is
	// live.
	live := float64(s.Live)
	got, want := float64(ms[0].Value.Uint64()), min(live+max(live*Headroom, MinHeadroom), 2*live)
	if got < want*0.95 {
		t.Errorf("heap goal %.1f MiB for %.1f MiB live: want about %.1f MiB", got/mib, float64(s.Live)/mib, want/mib)
	}
}

var sink []byte

// fragment fills the heap with small objects of several sizes and keeps
// a quarter of them, so that its spans hold three times as much in holes
// as in live objects (what an idle coordinator's heap holds once a
// connect's garbage is collected), and collects and returns the free
// spans, as the controller does after Quiet. It returns a func that lets
// go of what is kept.
func fragment() func() {
	var all [][]byte
	for i := range 400_000 {
		all = append(all, make([]byte, 48+(i%7)*64))
	}
	for i := 0; i < len(all); i += 4 {
		held = append(held, all[i])
	}
	all = nil
	debug.FreeOSMemory()
	return func() { held = nil }
}

// cycles is how many collections have ended so far.
func cycles() uint64 {
	ms := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(ms)
	return ms[0].Value.Uint64()
}

// Under the calm limit, set after the quiet collection of a fragmented
// heap, the runtime collects as often as the limit's room means (once
// per Headroom of the live heap allocated, at least MinHeadroom), not
// back to back: the holes count against the limit as the runtime counts
// them, not as room. The heap allocates objects of a size the holes do
// not fit, as new connections' buffers would.
func TestCalmLimitAfterQuietCollection(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer fragment()()
	s := Read()
	if s.Holes < s.Live {
		t.Fatalf("%.1f MiB of holes beside %.1f MiB live: want a fragmented heap", float64(s.Holes)/mib, float64(s.Live)/mib)
	}
	debug.SetMemoryLimit(Limit(s))
	const allocated = 64 * mib
	before := cycles()
	for range allocated / 1024 {
		sink = make([]byte, 1024)
	}
	sink = nil
	got := cycles() - before
	room := max(float64(s.Live)*Headroom, MinHeadroom)
	t.Logf("%d collections while %d MiB were allocated above %.1f MiB live (%.1f MiB of holes)", got, allocated/mib, float64(s.Live)/mib, float64(s.Holes)/mib)
	if most := uint64(allocated/room) + 2; got > most {
		t.Errorf("%d collections while %d MiB were allocated above %.1f MiB live (%.1f MiB of holes): want at most %d, one per %.1f MiB",
			got, allocated/mib, float64(s.Live)/mib, float64(s.Holes)/mib, most, room/mib)
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
	if s.Cycles == 0 || s.Allocs < uint64(len(hold)) || s.GCCPU <= 0 {
		t.Errorf("%d collections, %d bytes allocated, %f s of GC: want some, and the %d held", s.Cycles, s.Allocs, s.GCCPU, len(hold))
	}
	runtime.KeepAlive(hold)
}

// Run sets the limit a Policy derives from the live heap, and puts back
// the limit it found when its context ends.
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
	if lo, hi := Limit(s)/2, 2*BurstLimit(s, math.MaxInt64); got < lo || got > hi {
		t.Errorf("limit %d, want between %d and %d for %+v", got, lo, hi, s)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != found {
		t.Errorf("limit after Run ended %d, want the %d it found", got, found)
	}
}
