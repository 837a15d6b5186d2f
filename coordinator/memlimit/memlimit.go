// Package memlimit keeps the coordinator's soft memory limit
// (runtime/debug.SetMemoryLimit) a little above what the process holds
// live, and hands memory back to the system once a burst is over: without
// it the GC lets the heap grow to twice what is live (GOGC=100) and the
// runtime keeps what a burst grew to long after the burst.
//
// The limit is derived, not set by hand: it follows the live heap after
// each collection, with room above it for the heap to grow (Headroom of
// the live heap, at least MinHeadroom), so it can never sit below what is
// live and keep the GC running without pause. A process that has not
// collected for Quiet is collected and its free memory returned
// (debug.FreeOSMemory): the limit then follows what is live now, not what
// the last burst held.
package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// Headroom is the room the limit leaves above the live heap, as a
	// share of it: the heap may grow by half of what is live between two
	// collections (GOGC=50) before the limit makes the GC run.
	Headroom = 0.5
	// MinHeadroom is the least room above the live heap, so that a small
	// process does not collect after every few allocations. It is kept
	// small: an idle process's heap fills whatever room the limit leaves
	// before each collection, so the room is resident memory (64 MiB was
	// 32 KiB an agent at 2,000 agents).
	MinHeadroom = 16 << 20
	// Every is how often the controller samples the runtime's memory.
	Every = time.Second
	// Quiet is how long without a collection before the controller
	// collects and returns the free memory itself.
	Quiet = 10 * time.Second
)

// Sample is what the controller reads of the runtime's memory.
type Sample struct {
	// Live is the heap the last collection found live.
	Live uint64
	// Other is the memory the limit counts beyond the heap's objects and
	// spans: goroutine stacks, the runtime's metadata and buffers.
	Other uint64
	// Cycles is how many collections have ended so far.
	Cycles uint64
}

// Limit is the soft memory limit for the process sampled in s: what it
// holds beyond the heap, the live heap, and room for the heap to grow.
func Limit(s Sample) int64 {
	room := max(float64(s.Live)*Headroom, MinHeadroom)
	if l := float64(s.Other) + float64(s.Live) + room; l < math.MaxInt64 {
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
	// is its objects, the free space in its spans, and its free spans.
	heap := v(4) + v(5) + v(6)
	counted := v(2) - v(3)
	return Sample{Live: v(0), Cycles: v(1), Other: counted - min(heap, counted)}
}

// Run keeps the process's memory limit at Limit of each Sample, sampled
// every Every from the first collection on, until ctx ends; then it puts
// back the limit it found. Whenever no collection has ended for Quiet, it
// collects and returns the free memory to the system.
func Run(ctx context.Context) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	t := time.NewTicker(Every)
	defer t.Stop()
	lastCycles, lastChange := Read().Cycles, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := Read()
			if s.Cycles != lastCycles {
				lastCycles, lastChange = s.Cycles, now
			} else if now.Sub(lastChange) >= Quiet {
				debug.FreeOSMemory()
				s = Read()
				// The forced collection does not count as one: the
				// next comes after another quiet spell.
				lastCycles, lastChange = s.Cycles, now
			}
			if s.Cycles > 0 {
				// Before the first collection nothing is known live.
				debug.SetMemoryLimit(Limit(s))
			}
		}
	}
}
