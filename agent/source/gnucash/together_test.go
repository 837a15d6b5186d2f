package gnucash

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// outcome is what a read gave one data type: its records and its end.
type outcome struct {
	recs  []source.Record
	err   error
	dones int
}

// together reads the types dts of src with one FetchTypes, every type's
// sink collecting its records, and checks each sink's Done is called once.
func together(t *testing.T, src *Source, dts []dataset.DataType) map[dataset.DataType]*outcome {
	t.Helper()
	mb, err := src.FetchTypes(t.Context(), dts)
	if err != nil {
		t.Fatalf("FetchTypes: %v", err)
	}
	defer mb.Close()
	out := map[dataset.DataType]*outcome{}
	sinks := make([]source.Sink, len(dts))
	for i, dt := range dts {
		o := &outcome{}
		out[dt] = o
		if _, err := mb.Fetched(dt); err != nil {
			t.Fatalf("Fetched(%s): %v", dt, err)
		}
		sinks[i] = source.Sink{Type: dt, Emit: func(r source.Record) error {
			if o.dones > 0 {
				t.Errorf("%s: a record after Done", dt)
			}
			o.recs = append(o.recs, r)
			return nil
		}, Done: func(err error) { o.err = err; o.dones++ }}
	}
	mb.Records(t.Context(), sinks)
	for dt, o := range out {
		if o.dones != 1 {
			t.Errorf("%s: Done called %d times, want 1", dt, o.dones)
		}
	}
	return out
}

// sameAsAlone checks that what a read of several types gave each type is
// what a Fetch of that type alone gives: the same records in the same
// order, or the same error. It returns what the reads alone gave.
func sameAsAlone(t *testing.T, path string, got map[dataset.DataType]*outcome) map[dataset.DataType]*outcome {
	t.Helper()
	alone := map[dataset.DataType]*outcome{}
	for dt := range got {
		recs, err := records(t, open(t, path), dt)
		alone[dt] = &outcome{recs: recs, err: err}
	}
	sameOutcomes(t, got, alone)
	return alone
}

// sameOutcomes checks that each type of got ended as in want, a read of
// it alone, with the same records in the same order.
func sameOutcomes(t *testing.T, got, want map[dataset.DataType]*outcome) {
	t.Helper()
	for dt, o := range got {
		w := want[dt]
		if fmt.Sprint(w.err) != fmt.Sprint(o.err) {
			t.Errorf("%s: read with the others ended %v, alone %v", dt, o.err, w.err)
		}
		if len(w.recs) != len(o.recs) {
			t.Errorf("%s: %d records read with the others, %d alone", dt, len(o.recs), len(w.recs))
			continue
		}
		for i := range w.recs {
			if !reflect.DeepEqual(w.recs[i], o.recs[i]) {
				t.Errorf("%s record %d: read with the others\n%v\nalone\n%v", dt, i, o.recs[i], w.recs[i])
				break
			}
		}
	}
}

// TestFetchTypesReadsOnce: every data type of a book read together opens
// the book once (an SQLite book is copied once) and reads it in one pass,
// two with payments among them (their transactions read again, after the
// documents), not once per type; and each type gets what a Fetch of it
// alone gets. Real books of every format, and a generated book with
// payments as XML and as SQLite.
func TestFetchTypesReadsOnce(t *testing.T) {
	paths := []string{genPaymentsBook(t, 400), genSQLiteBook(t, t.TempDir(), 400, true)}
	for _, bk := range bookTests {
		if strings.HasPrefix(bk.file, "testdata/") {
			paths = append(paths, bk.file)
		} else {
			paths = append(paths, books+bk.file)
		}
	}
	noPayments := []dataset.DataType{dataset.Company, dataset.ChartOfAccounts, dataset.JournalEntries, dataset.Invoices,
		dataset.CreditNotes, dataset.BankAccounts}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			// The types of the second read are among the first's: what
			// each gave alone is read once.
			var alone map[dataset.DataType]*outcome
			for _, tt := range []struct {
				types []dataset.DataType
				loads int64
			}{{dataset.DataTypes, 2}, {noPayments, 1}} {
				src := open(t, path)
				got := together(t, src, tt.types)
				if opens, loads := src.opens.Load(), src.loads.Load(); opens != 1 || loads != tt.loads {
					t.Errorf("%d types: the book was opened %d times and read %d, want 1 and %d", len(tt.types), opens, loads, tt.loads)
				}
				for dt, o := range got {
					if o.err != nil {
						t.Errorf("%s: %v", dt, o.err)
					}
				}
				if alone == nil {
					alone = sameAsAlone(t, path, got)
				} else {
					sameOutcomes(t, got, alone)
				}
			}
		})
	}
}

// TestFetchTypesSinkFailsAlone: a type whose records cannot be taken (its
// upload failed) ends with that error, and the read goes on for the
// others, which get every record; one whose Emit fails at its first record
// too.
func TestFetchTypesSinkFailsAlone(t *testing.T) {
	for _, path := range []string{genPaymentsBook(t, 400), genSQLiteBook(t, t.TempDir(), 400, true)} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src := open(t, path)
			mb, err := src.FetchTypes(t.Context(), dataset.DataTypes)
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			failing := map[dataset.DataType]int{dataset.JournalEntries: 10, dataset.Customers: 0, dataset.Payments: 5}
			errUpload := errors.New("upload refused")
			got := map[dataset.DataType]*outcome{}
			var sinks []source.Sink
			for _, dt := range dataset.DataTypes {
				o := &outcome{}
				got[dt] = o
				sinks = append(sinks, source.Sink{Type: dt, Emit: func(r source.Record) error {
					if n, ok := failing[dt]; ok && len(o.recs) == n {
						return errUpload
					}
					o.recs = append(o.recs, r)
					return nil
				}, Done: func(err error) { o.err = err; o.dones++ }})
			}
			mb.Records(t.Context(), sinks)
			for _, dt := range dataset.DataTypes {
				o := got[dt]
				all := mustRecords(t, open(t, path), dt)
				want, wantErr := len(all), error(nil)
				if n, ok := failing[dt]; ok {
					want, wantErr = n, errUpload
				}
				if o.dones != 1 || !errors.Is(o.err, wantErr) || len(o.recs) != want {
					t.Errorf("%s: %d records, Done %d times with %v; want %d records, Done once with %v",
						dt, len(o.recs), o.dones, o.err, want, wantErr)
				}
			}
		})
	}
}

// TestFetchTypesFaultOfSomeTypes: a fault in a part of the book only some
// types read (a document's line, after the transactions) fails those
// types, as each alone would fail, and no other: the journal entries,
// streamed before the fault was met, are read again without being sent
// twice.
func TestFetchTypesFaultOfSomeTypes(t *testing.T) {
	text := xmlText(t, books+"business-de.gnucash.xml")
	bad := strings.Replace(text, "<entry:qty>3/1</entry:qty>", "<entry:qty>3/x</entry:qty>", 1)
	if bad == text {
		t.Fatal("the book has no such line")
	}
	path := filepath.Join(t.TempDir(), "broken.gnucash")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	got := together(t, open(t, path), dataset.DataTypes)
	for dt, o := range got {
		failed := needs[dt]&partInvoices != 0
		if failed {
			wantError(t, o.err, dataset.MapError, "broken.gnucash line", "qty")
		} else if o.err != nil || len(o.recs) == 0 {
			t.Errorf("%s: %d records, %v; it reads no document", dt, len(o.recs), o.err)
		}
	}
	sameAsAlone(t, path, got)
}

// TestXMLBookReplacedWhileReadTogether: GnuCash saves over the book while
// its types are read together (at the first journal entry): every type
// reads the version opened, payments too, whose transactions are read
// again after the save.
func TestXMLBookReplacedWhileReadTogether(t *testing.T) {
	const before, after = 400, 800 // 100 and 200 payments
	book := genPaymentsBook(t, before)
	next := filepath.Join(filepath.Dir(book), "generated.gnucash.tmp")
	if err := os.Rename(genPaymentsBook(t, after), next); err != nil {
		t.Fatal(err)
	}
	src := open(t, book)
	mb, err := src.FetchTypes(t.Context(), dataset.DataTypes)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	n := map[dataset.DataType]int{}
	replaced := false
	var sinks []source.Sink
	for _, dt := range dataset.DataTypes {
		sinks = append(sinks, source.Sink{Type: dt, Emit: func(source.Record) error {
			if !replaced {
				if err := os.Rename(next, book); err != nil {
					return err
				}
				replaced = true
			}
			n[dt]++
			return nil
		}, Done: func(err error) {
			if err != nil {
				t.Errorf("%s: %v", dt, err)
			}
		}})
	}
	mb.Records(t.Context(), sinks)
	if !replaced {
		t.Fatal("the book was never replaced")
	}
	if n[dataset.JournalEntries] != before || n[dataset.Payments] != before/4 {
		t.Errorf("read %d journal entries and %d payments while the book was replaced, want the %d and %d of the version opened",
			n[dataset.JournalEntries], n[dataset.Payments], before, before/4)
	}
	if got := len(mustRecords(t, src, dataset.Payments)); got != after/4 {
		t.Errorf("the next fetch read %d payments, want the new version's %d", got, after/4)
	}
}

// TestSQLiteReadTogetherWhileGnuCashWrites: GnuCash writes to its SQLite
// book while Ferry reads every type of it together: they are all of one
// version, the copy's. Each transaction written moves 1.00 between the
// first two accounts, so the first account's balance in the chart of
// accounts tells how many the version read holds, which must be what the
// journal entries read count.
func TestSQLiteReadTogetherWhileGnuCashWrites(t *testing.T) {
	txns := 20000
	if raceEnabled {
		txns = 5000
	}
	book := genSQLiteBook(t, t.TempDir(), txns, true)
	balance := func(recs []source.Record) *big.Rat {
		for _, r := range recs {
			if r["id"] == genAccounts[0].GUID {
				return num(t, r["currentBalance"])
			}
		}
		t.Fatalf("no account %s", genAccounts[0].GUID)
		return nil
	}
	src, err := OpenWith(book, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	base := balance(mustRecords(t, src, dataset.ChartOfAccounts))
	w := startWriter(t, book, 0)
	got := together(t, src, dataset.DataTypes)
	writes, _, werr := w.end()
	if werr != nil {
		t.Fatalf("GnuCash's write failed while Ferry read the book: %v", werr)
	}
	for dt, o := range got {
		if o.err != nil {
			t.Fatalf("%s: %v", dt, o.err)
		}
	}
	entries := len(got[dataset.JournalEntries].recs)
	if entries < txns || entries > txns+writes {
		t.Errorf("read %d entries; the book held %d to %d while it was read", entries, txns, txns+writes)
	}
	moved := new(big.Rat).Sub(balance(got[dataset.ChartOfAccounts].recs), base)
	if want := big.NewRat(int64(entries-txns), 1); moved.Cmp(want) != 0 {
		t.Errorf("the chart of accounts holds %s moved by the writes, the journal %d entries written: two versions",
			moved.FloatString(2), entries-txns)
	}
	t.Logf("%d writes while the book was read; the version read held %d of them", writes, entries-txns)
}

// BenchmarkFetchTypes reads every data type of a generated book with
// payments (gnucashtest.Options.Payments; 200,000 splits, 100,000
// transactions), as XML and as SQLite, in the same run both ways: one type
// at a time (a Fetch each, 13 reads of the book; the agent's way before
// FetchTypes) and all types in one read (FetchTypes). It reports each
// way's rate, the book's splits per second of reading every type, their
// ratio (x-faster: the time one type at a time took over the time of one
// read) and each way's peak heap in use.
//
//	go test -run '^$' -bench FetchTypes -benchtime 1x ./agent/source/gnucash/
func BenchmarkFetchTypes(b *testing.B) {
	const txns, splits = 100_000, 200_000
	for _, bk := range []struct{ name, path string }{
		{"xml", genPaymentsBook(b, txns)}, {"sqlite", genSQLiteBook(b, b.TempDir(), txns, true)},
	} {
		b.Run(bk.name, func(b *testing.B) {
			src := open(b, bk.path)
			var alone, together time.Duration
			var peakAlone, peakTogether uint64
			count := func(source.Record) error { return nil }
			for b.Loop() {
				start := time.Now()
				peakAlone = max(peakAlone, peakHeap(b, func() {
					for _, dt := range dataset.DataTypes {
						bt, err := src.Fetch(b.Context(), dt)
						if err != nil {
							b.Fatal(err)
						}
						if err := bt.Records(b.Context(), count); err != nil {
							b.Fatal(err)
						}
						bt.Close()
					}
				}))
				alone += time.Since(start)
				start = time.Now()
				peakTogether = max(peakTogether, peakHeap(b, func() {
					mb, err := src.FetchTypes(b.Context(), dataset.DataTypes)
					if err != nil {
						b.Fatal(err)
					}
					defer mb.Close()
					var sinks []source.Sink
					for _, dt := range dataset.DataTypes {
						sinks = append(sinks, source.Sink{Type: dt, Emit: count, Done: func(err error) {
							if err != nil {
								b.Errorf("%s: %v", dt, err)
							}
						}})
					}
					mb.Records(b.Context(), sinks)
				}))
				together += time.Since(start)
			}
			b.ReportMetric(float64(splits*b.N)/alone.Seconds(), "one-type-at-a-time-splits/s")
			b.ReportMetric(float64(splits*b.N)/together.Seconds(), "all-types-one-read-splits/s")
			b.ReportMetric(alone.Seconds()/together.Seconds(), "x-faster")
			b.ReportMetric(float64(peakAlone)/(1<<20), "one-type-at-a-time-peak-heap-MiB")
			b.ReportMetric(float64(peakTogether)/(1<<20), "all-types-one-read-peak-heap-MiB")
		})
	}
}
