// Package memlimit keeps the coordinator's soft memory limit
// (runtime/debug.SetMemoryLimit) a little above what the process holds
// live, and hands memory back to the system once a burst is over: without
// it the GC lets the heap grow to twice what is live (GOGC=100) and the
// runtime keeps what a burst grew to long after the burst.
//
// The limit is derived, not set by hand: it is what the runtime counts
// against it as in use after each collection (the live heap, the holes
// in the heap's spans, stacks and the runtime's own memory), with room
// above it for the heap to grow, so that the runtime's heap goal is the
// live heap and that room: it can never sit at or below what is live
// and keep the GC running without pause. While the process is calm the
// room is half the live heap (Headroom, at least MinHeadroom). While the
// GC takes more than Busy of a core over Window (a reconnect burst) the
// room is what the heap allocates in Spacing, up to the live heap (what
// GOGC=100 gives), so that the limit does not make the GC run more often
// than once every Spacing;
// the room narrows again once the GC has not been busy for Quiet. A
// process that has not collected for Quiet is collected and its free
// memory returned (debug.FreeOSMemory): the limit then follows what is
// live now, not what the last burst held.
package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// Headroom is the room the limit leaves above the live heap while the
	// process is calm, as a share of it: the heap may grow by half of
	// what is live between two collections (GOGC=50) before the limit
	// makes the GC run.
	Headroom = 0.5
	// BurstHeadroom is the most room the limit leaves above the live heap
	// while the process allocates fast, as a share of it: as much as
	// GOGC=100 gives, so the limit never makes the GC run sooner than the
	// runtime's default would.
	BurstHeadroom = 1.0
	// MinHeadroom is the least room above the live heap, so that a small
	// process does not collect after every few allocations. It is kept
	// small: an idle process's heap fills whatever room the limit leaves
	// before each collection, so the room is resident memory (64 MiB was
	// 32 KiB an agent at 2,000 agents).
	MinHeadroom = 16 << 20
	// Busy is the share of a core the GC takes, over Window, from which
	// the limit leaves a burst's room. A reconnect burst's GC took
	// 26–61% of a core on a quiet machine; a publish's takes less over a
	// Window, though single collections of its big heap take up to a
	// third of a core in their second, and it keeps the calm limit (its
	// peak memory is what a burst's room would add).
	Busy = 0.15
	// Window is how long the GC's share is measured over: long enough
	// that one collection of a big heap does not make a burst.
	Window = 5 * time.Second
	// Spacing is the least time between two collections a burst's room
	// aims for: room for what the heap allocates in Spacing, at the
	// fastest rate seen since the GC became busy, between Headroom and
	// BurstHeadroom of the live heap.
	Spacing = 2 * time.Second
	// Every is how often the controller samples the runtime's memory.
	Every = time.Second
	// Quiet is how long without a collection before the controller
	// collects and returns the free memory itself, and how long after
	// the GC was last busy a burst's room is kept.
	Quiet = 10 * time.Second
	// runtimeHeadroom is the share of the room between the limit and the
	// memory outside the heap's objects that the runtime keeps unused
	// (runtime.memoryLimitHeapGoalHeadroomPercent, at least 1 MiB): its
	// heap goal is that much below the limit.
	runtimeHeadroom = 0.05
)

// Sample is what the controller reads of the runtime's memory.
type Sample struct {
	// At is when the sample was read.
	At time.Time
	// Live is the heap the last collection found live.
	Live uint64
	// Other is the memory the limit counts beyond the heap's spans:
	// goroutine stacks, the runtime's metadata and buffers.
	Other uint64
	// Holes is the unused part of the heap's spans in use: the room
	// between objects that new objects of the same sizes fill. The
	// runtime counts it against its limit with Other: its heap goal is
	// the limit less both.
	Holes uint64
	// Cycles is how many collections have ended so far.
	Cycles uint64
	// Allocs is how many bytes the heap has allocated so far.
	Allocs uint64
	// GCCPU is the CPU time the GC has taken so far, in seconds, as the
	// runtime counts it when each collection ends.
	GCCPU float64
}

// Policy derives the limit from successive samples. While calm the
// limit is Limit's; once the GC has taken more than Busy of a core over
// Window, and until it has not for Quiet, it is BurstLimit's, with the
// room the fastest allocation of that time needs, and it does not fall.
// The zero Policy is ready to use.
type Policy struct {
	prev   Sample
	window []Sample  // the samples of the last Window, the oldest first
	busyAt time.Time // the last sample the GC took more than Busy over Window
	alloc  float64   // the most allocated in Spacing since busy began
	limit  int64     // the last limit
}

// gcShare is the share of a core the GC took over the last Window ending
// at s, 0 until the samples span Window.
func (p *Policy) gcShare(s Sample) float64 {
	p.window = append(p.window, s)
	for len(p.window) > 1 && s.At.Sub(p.window[1].At) >= Window {
		p.window = p.window[1:]
	}
	first := p.window[0]
	if dt := s.At.Sub(first.At); dt >= Window {
		return (s.GCCPU - first.GCCPU) / dt.Seconds()
	}
	return 0
}

// Limit is the soft memory limit for the process sampled in s, read after
// the samples given before it.
func (p *Policy) Limit(s Sample) int64 {
	var alloc float64
	if dt := s.At.Sub(p.prev.At).Seconds(); !p.prev.At.IsZero() && dt > 0 && s.Allocs >= p.prev.Allocs {
		alloc = float64(s.Allocs-p.prev.Allocs) / dt * Spacing.Seconds()
	}
	p.prev = s
	gc := p.gcShare(s)
	wasBusy := !p.busyAt.IsZero() && s.At.Sub(p.busyAt) < Quiet
	if gc > Busy {
		p.busyAt = s.At
	}
	if s.At.Sub(p.busyAt) >= Quiet || p.busyAt.IsZero() {
		p.alloc, p.limit = 0, Limit(s)
		return p.limit
	}
	if !wasBusy {
		p.alloc = 0
	}
	p.alloc = max(p.alloc, alloc)
	p.limit = max(BurstLimit(s, p.alloc), p.limit)
	return p.limit
}

// Limit is the soft memory limit for the process sampled in s while it is
// calm: BurstLimit's with nothing allocated, so that the runtime's heap
// goal is the live heap and Headroom of it (at least MinHeadroom) above
// all it counts as in use, the holes in the heap's spans with the rest.
// Counted as room, the holes left a heap goal at the live heap whenever
// they outgrew the room, as after the quiet collection in an idle
// coordinator's fragmented heap: the GC then ran without pause until
// the holes filled.
func Limit(s Sample) int64 { return BurstLimit(s, 0) }

// BurstLimit is the soft memory limit for the process sampled in s while
// the GC is busy and its heap allocates alloc bytes in Spacing: the
// runtime's heap goal is then the live heap and room for what it
// allocates in Spacing (at least Headroom of the live heap and
// MinHeadroom, at most BurstHeadroom of it), above what it holds beyond
// the heap's objects and the holes in its spans, which the runtime counts
// against its limit. A burst's garbage leaves holes of sizes the next
// objects may not fit: counted as room, they left a heap goal at the live
// heap.
func BurstLimit(s Sample, alloc float64) int64 {
	live := float64(s.Live)
	room := max(min(alloc, live*BurstHeadroom), live*Headroom, MinHeadroom)
	goal := live + room
	// The runtime keeps a share of the room below the limit unused: ask
	// for that much more so that its heap goal is goal.
	goal = max(goal/(1-runtimeHeadroom), goal+1<<20)
	return clamp(float64(s.Other) + float64(s.Holes) + goal)
}

// clamp is l as an int64, at most math.MaxInt64.
func clamp(l float64) int64 {
	if l < math.MaxInt64 {
		return int64(l)
	}
	return math.MaxInt64
}

// names are the runtime/metrics read into a Sample.
var names = []string{
	"/gc/heap/live:bytes",
	"/gc/cycles/total:gc-cycles",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/allocs:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
}

// Read samples the runtime's memory.
func Read() Sample {
	ms := make([]metrics.Sample, len(names))
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 { return ms[i].Value.Uint64() }
	// The limit counts every mapped byte not released; the heap's part
	// is its objects, the holes in its spans, and its free spans.
	heap := v(4) + v(5) + v(6)
	counted := v(2) - v(3)
	return Sample{
		At:     time.Now(),
		Live:   v(0),
		Other:  counted - min(heap, counted),
		Holes:  v(5),
		Cycles: v(1),
		Allocs: v(7),
		GCCPU:  ms[8].Value.Float64(),
	}
}

// Run keeps the process's memory limit at what a Policy derives from each
// Sample, sampled every Every from the first collection on, until ctx
// ends; then it puts back the limit it found. Whenever no collection has
// ended for Quiet, it collects and returns the free memory to the system.
func Run(ctx context.Context) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	t := time.NewTicker(Every)
	defer t.Stop()
	var p Policy
	first := Read()
	p.Limit(first)
	lastCycles, lastChange := first.Cycles, first.At
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s := Read()
			if s.Cycles != lastCycles {
				lastCycles, lastChange = s.Cycles, s.At
			} else if s.At.Sub(lastChange) >= Quiet {
				debug.FreeOSMemory()
				s = Read()
				// The forced collection does not count as one: the
				// next comes after another quiet spell.
				lastCycles, lastChange = s.Cycles, s.At
			}
			l := p.Limit(s)
			if s.Cycles > 0 {
				// Before the first collection nothing is known live.
				debug.SetMemoryLimit(l)
			}
		}
	}
}
