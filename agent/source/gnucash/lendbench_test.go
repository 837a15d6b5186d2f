package gnucash

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// BenchmarkLenderMillionSplits reads the lender's types from the generated
// book of 1,000,000 splits (500,000 transactions; e2e's bigbook, the book
// of issue #4): per type, the records mapped per second, the splits read
// per second and the peak heap in use while it runs; beside, in the same
// run, the limit no mapping can beat, the raw read of the same book
// (gunzip and a scan of its lines), and journalEntries, the type that maps
// every transaction. Run it with -benchtime 1x: one read is a few seconds.
//
//	go test -run '^$' -bench LenderMillionSplits -benchtime 1x ./agent/source/gnucash/
func BenchmarkLenderMillionSplits(b *testing.B) {
	const txns, splits = 500_000, 1_000_000
	path := genBook(b, txns)
	b.Run("raw-read", func(b *testing.B) {
		peak := peakHeap(b, func() {
			for b.Loop() {
				lines := rawRead(b, path)
				if lines < splits {
					b.Fatalf("%d lines", lines)
				}
			}
		})
		b.ReportMetric(float64(splits*b.N)/b.Elapsed().Seconds(), "splits/s")
		b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
	})
	src := open(b, path)
	for _, dt := range []dataset.DataType{dataset.JournalEntries, dataset.Payments, dataset.BillPayments,
		dataset.CreditNotes, dataset.BillCreditNotes, dataset.BankAccounts} {
		b.Run(string(dt), func(b *testing.B) {
			n := 0
			peak := peakHeap(b, func() {
				for b.Loop() {
					bt, err := src.Fetch(b.Context(), dt)
					if err != nil {
						b.Fatal(err)
					}
					if err := bt.Records(b.Context(), func(source.Record) error { n++; return nil }); err != nil {
						b.Fatal(err)
					}
					bt.Close()
				}
			})
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(splits*b.N)/b.Elapsed().Seconds(), "splits/s")
			b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
		})
	}
}

// rawRead gunzips the book and counts its lines: the least any read of it
// costs.
func rawRead(b *testing.B, path string) int {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	n := 0
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		b.Fatal(err)
	}
	return n
}

// peakHeap runs fn while sampling the heap in use every 10 ms, and returns
// the largest sample.
func peakHeap(b *testing.B, fn func()) uint64 {
	runtime.GC()
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return peak
}
