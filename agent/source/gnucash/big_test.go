package gnucash

import (
	"os"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestMillionSplits streams every data type of a generated book of
// 1,000,000 splits (500,000 transactions) in one read, as the agent reads
// the types queued together (FetchTypes), and samples the heap in use as
// it goes: it must stay under 150 MB, as it must not grow with the book.
// Under the race detector, which slows the read about tenfold, the book
// has 10,000 splits: every type is still read through the same streaming
// code, which is what the detector checks; the heap bound means something
// only at the full size, which `go test` without -race reads, and which
// make test checks with the real agent, without -race, in e2e's
// TestMillionSplitBookAgentMemory (every type, the same generated book,
// its peak RSS under 150 MiB). Read once per type, the book took 13
// reads; BenchmarkFetchTypes compares the two.
func TestMillionSplits(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a 1,000,000-split book")
	}
	txns := 500_000
	if raceEnabled {
		txns = 5_000
	}
	path := genBook(t, txns)
	fi, _ := os.Stat(path)
	src := open(t, path)
	want := map[dataset.DataType]int{dataset.Company: 1, dataset.ChartOfAccounts: len(genAccounts), dataset.TaxRates: 1,
		dataset.Customers: 1, dataset.Invoices: 1, dataset.JournalEntries: txns, dataset.BankAccounts: 1}
	peak := peakHeap(t, func() {
		mb, err := src.FetchTypes(t.Context(), dataset.DataTypes)
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		var sinks []source.Sink
		for _, dt := range dataset.DataTypes {
			n := 0
			sinks = append(sinks, source.Sink{Type: dt, Emit: func(source.Record) error { n++; return nil }, Done: func(err error) {
				if err != nil || n != want[dt] {
					t.Errorf("%s: %d records, %v; want %d", dt, n, err, want[dt])
				}
			}})
		}
		mb.Records(t.Context(), sinks)
	})
	const bound = 150 << 20
	t.Logf("%d splits, book %d MiB gzip: peak heap in use %d MiB streaming every type in one read", 2*txns, fi.Size()>>20, peak>>20)
	if peak > bound {
		t.Errorf("peak heap in use %d MiB, want under %d MiB", peak>>20, bound>>20)
	}
}

// BenchmarkFetchMap reads and maps whole data types: records/s, and the
// book's splits read per second (payments and bank accounts read every
// split for a few records: compare their splits/s with journalEntries').
func BenchmarkFetchMap(b *testing.B) {
	gen := genBook(b, 100_000) // 200,000 splits
	for _, bk := range []struct {
		name, path string
		splits     int // 0: not counted
	}{{"generated-200k-splits", gen, 200_000}, {"taxreport", books + "taxreport.gnucash", 0}} {
		b.Run(bk.name, func(b *testing.B) {
			benchTypes(b, open(b, bk.path), bk.splits,
				dataset.JournalEntries, dataset.ChartOfAccounts, dataset.Payments, dataset.BankAccounts)
		})
	}
}
