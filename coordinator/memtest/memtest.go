// Package memtest measures memory for the coordinator's benchmarks: the
// heap's peak while a burst of work runs.
package memtest

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"sync"
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

// Burst runs f(0) … f(n-1) at once and returns how far the heap's peak
// (HeapPeak) rose above the live heap before them, and their errors
// joined.
func Burst(n int, f func(i int) error) (peak uint64, err error) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	stop := HeapPeak()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	if p := stop(); p > ms.HeapAlloc {
		peak = p - ms.HeapAlloc
	}
	return peak, errors.Join(errs...)
}
