// Package memtest measures memory for the coordinator's benchmarks: the
// heap's peak while a burst of work runs.
package memtest

import (
	"runtime/metrics"
	"time"
)

// HeapPeak samples the heap's live and unswept objects every 200 µs from
// its own goroutine until stop is called, which returns the highest
// figure seen.
func HeapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done, out := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-out }
}
