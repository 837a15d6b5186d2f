package gnucash

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/gnucash/gnucashtest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// BenchmarkLenderMillionSplits reads the lender's types from the generated
// book of 1,000,000 splits (500,000 transactions; e2e's bigbook, the book
// of issue #4), written with gnucashtest.Options.Payments so that one
// transaction in four is a customer's payment (125,000 payments): per type, the records mapped per second, the splits read
// per second and the peak heap in use while it runs; beside, in the same
// run, the limit no mapping can beat, the raw read of the same book
// (gunzip and a scan of its lines), and journalEntries, the type that maps
// every transaction. Then the same transactions in an SQLite book
// (sqlite/journalEntries, sqlite/payments): its journal is that format's
// pace. Run it with -benchtime 1x: one read is a few seconds.
//
//	go test -run '^$' -bench LenderMillionSplits -benchtime 1x ./agent/source/gnucash/
func BenchmarkLenderMillionSplits(b *testing.B) {
	const txns, splits = 500_000, 1_000_000
	path := genPaymentsBook(b, txns)
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
	benchTypes(b, open(b, path), splits, dataset.JournalEntries, dataset.Payments, dataset.BillPayments,
		dataset.CreditNotes, dataset.BillCreditNotes, dataset.BankAccounts)
	b.Run("sqlite", func(b *testing.B) {
		benchTypes(b, open(b, genSQLiteBook(b, b.TempDir(), txns, true)), splits, dataset.JournalEntries, dataset.Payments)
	})
}

// benchTypes reads each data type of src in a sub-benchmark: records and
// splits (of a book of that many; 0: not reported) per second, and the
// peak heap in use.
func benchTypes(b *testing.B, src *Source, splits int, types ...dataset.DataType) {
	for _, dt := range types {
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
			if splits > 0 {
				b.ReportMetric(float64(splits*b.N)/b.Elapsed().Seconds(), "splits/s")
			}
			b.ReportMetric(float64(peak>>20), "peak-heap-MiB")
		})
	}
}

// genPaymentsBook writes a generated book whose customer pays on account
// one transaction in four (gnucashtest.Options.Payments).
func genPaymentsBook(tb testing.TB, txns int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "generated-payments.gnucash")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := gnucashtest.WriteBookWith(f, txns, gnucashtest.Options{Payments: true}); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestGeneratedPayments: a generated book with payments has one payment
// per transaction from Receivables to Bank, each on account, by the
// customer, of that transaction's amount.
func TestGeneratedPayments(t *testing.T) {
	src := open(t, genPaymentsBook(t, 400))
	recs := mustRecords(t, src, dataset.Payments)
	if len(recs) != 100 {
		t.Fatalf("%d payments, want 100", len(recs))
	}
	for _, r := range recs {
		id := r["id"].(string)
		i, err := strconv.ParseInt(id[1:], 16, 64)
		if err != nil || i%4 != 3 {
			t.Fatalf("payment %s is not a transaction from Receivables", id)
		}
		want := fmt.Sprintf("%d.%02d", (i%9999+1)/100, (i%9999+1)%100)
		line := r["lines"].([]any)[0].(map[string]any)
		link := line["links"].([]any)[0].(map[string]any)
		if fmt.Sprint(r["totalAmount"]) != want || r["customerRef"].(map[string]any)["id"] != gnucashtest.CustomerGUID ||
			link["type"] != "PaymentOnAccount" || fmt.Sprint(link["amount"]) != "-"+want {
			t.Errorf("payment %s: %v, want %s on account by the customer", id, r, want)
		}
	}
}

// TestPaymentsHeapFlat maps the payments of a generated book with many
// payments, as XML and as SQLite, and takes the live heap (after a
// collection) at the first, middle and last payment emitted: it must grow,
// from before the fetch, by less than 512 KiB plus 16 bytes a payment (it
// grows some 150 KiB, the read's buffers). Held per payment until the book
// was read, as documents come after the transactions in an XML book, the
// payments took some 700 bytes each (17 MiB for 25,000); the connector now
// reads the book's documents first and maps each payment as its
// transaction streams past, so the heap does not grow with them. The book
// is small enough for make test's -race run (2,500 payments, which held
// 1.7 MiB), and bigger without the detector (25,000).
func TestPaymentsHeapFlat(t *testing.T) {
	txns := 100_000
	if raceEnabled || testing.Short() {
		txns = 10_000
	}
	payments := txns / 4
	for _, bk := range []struct{ name, path string }{
		{"xml", genPaymentsBook(t, txns)}, {"sqlite", genSQLiteBook(t, t.TempDir(), txns, true)},
	} {
		t.Run(bk.name, func(t *testing.T) {
			src := open(t, bk.path)
			base := liveHeap()
			b, err := src.Fetch(t.Context(), dataset.Payments)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var peak uint64
			n := 0
			err = b.Records(t.Context(), func(source.Record) error {
				if n++; n == 1 || n == payments/2 || n == payments {
					peak = max(peak, liveHeap())
				}
				return nil
			})
			if err != nil || n != payments {
				t.Fatalf("%d payments, %v; want %d", n, err, payments)
			}
			grew := int64(peak) - int64(base)
			bound := int64(512<<10 + 16*payments)
			t.Logf("%d payments: live heap %+d KiB while they were mapped (bound %d KiB)", payments, grew>>10, bound>>10)
			if grew > bound {
				t.Errorf("the live heap grew by %d KiB mapping %d payments, want under %d KiB", grew>>10, payments, bound>>10)
			}
		})
	}
}

// liveHeap is the heap reachable, right after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
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
// the largest sample. The sampler ends even when fn stops the test
// (t.Fatal).
func peakHeap(tb testing.TB, fn func()) (peak uint64) {
	tb.Helper()
	runtime.GC()
	var mu sync.Mutex
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
	defer func() {
		close(stop)
		wg.Wait()
	}()
	fn()
	return // peak, read once the sampler has ended
}
