package gnucash

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/gnucash/gnucashtest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// genSQLiteBook writes an SQLite book of txns transactions (two splits
// each, as gnucashtest's XML books) into dir, made from the empty book
// GnuCash saved, so its schema, page size and journal mode are GnuCash's.
// With payments, as gnucashtest.Options.Payments, every transaction from
// Receivables to Bank is the customer's payment on account: typed P, its
// receivable split in the lot the customer owns.
func genSQLiteBook(tb testing.TB, dir string, txns int, payments bool) string {
	tb.Helper()
	path := copyFile(tb, books+"empty-sqlite.gnucash", dir, "generated-sqlite.gnucash")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var root string
	if err := tx.QueryRow("SELECT root_account_guid FROM books").Scan(&root); err != nil {
		tb.Fatal(err)
	}
	const gbp = "c0000000000000000000000000000gbp"
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	exec("INSERT INTO commodities (guid, namespace, mnemonic, fullname, fraction, quote_flag) VALUES (?, 'CURRENCY', 'GBP', 'Pound', 100, 0)", gbp)
	for _, a := range genAccounts {
		exec(`INSERT INTO accounts (guid, name, account_type, commodity_guid, commodity_scu, non_std_scu, parent_guid, hidden, placeholder)
			VALUES (?, ?, ?, ?, 100, 0, ?, 0, 0)`, a.GUID, a.Name, a.Type, gbp, root)
	}
	if payments {
		exec(`INSERT INTO customers (guid, name, id, notes, active, discount_num, discount_denom, credit_num, credit_denom,
			currency, tax_override) VALUES (?, 'Generated Customer', '000001', '', 1, 0, 1, 0, 1, ?, 0)`, gnucashtest.CustomerGUID, gbp)
		exec("INSERT INTO lots (guid, account_guid, is_closed) VALUES (?, ?, 0)", gnucashtest.PaymentLotGUID, genAccounts[3].GUID)
		const frame = "f1000000000000000000000000000001"
		exec("INSERT INTO slots (obj_guid, name, slot_type, guid_val) VALUES (?, 'gncOwner', 9, ?)", gnucashtest.PaymentLotGUID, frame)
		exec("INSERT INTO slots (obj_guid, name, slot_type, guid_val) VALUES (?, 'gncOwner/owner-guid', 5, ?)", frame, gnucashtest.CustomerGUID)
	}
	// The rows are made by SQLite itself, from a series of n: one statement
	// a table, not one a row (the driver's cost a row is what -race slows).
	series := "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i+1 < ?) "
	account := func(k string) string { // genAccounts[k % len] by SQL
		c := "CASE (" + k + ") % " + fmt.Sprint(len(genAccounts))
		for j, a := range genAccounts {
			c += fmt.Sprintf(" WHEN %d THEN '%s'", j, a.GUID)
		}
		return c + " END"
	}
	exec(series+`INSERT INTO transactions (guid, currency_guid, num, post_date, enter_date, description)
		SELECT printf('7%031x', i), ?, '', printf('2024-%02d-%02d 10:59:00', i%12+1, i%28+1),
		printf('2024-%02d-%02d 12:00:00', i%12+1, i%28+1), 'Generated transaction ' || i FROM n`, txns, gbp)
	exec(series+`INSERT INTO splits (guid, tx_guid, account_guid, memo, action, reconcile_state, value_num, value_denom,
		quantity_num, quantity_denom) SELECT printf('5%031x', 2*i), printf('7%031x', i), `+account("i+1")+`, '', '', 'n',
		i%9999+1, 100, i%9999+1, 100 FROM n`, txns)
	// The split from Receivables (account 3) of a payment is in the lot.
	exec(series+`INSERT INTO splits (guid, tx_guid, account_guid, memo, action, reconcile_state, value_num, value_denom,
		quantity_num, quantity_denom, lot_guid) SELECT printf('5%031x', 2*i+1), printf('7%031x', i), `+account("i")+`,
		'line ' || i, '', 'n', -(i%9999+1), 100, -(i%9999+1), 100, CASE WHEN ? AND i%4 = 3 THEN ? END FROM n`,
		txns, payments, gnucashtest.PaymentLotGUID)
	if payments {
		exec(series+`INSERT INTO slots (obj_guid, name, slot_type, string_val)
			SELECT printf('7%031x', i), 'trans-txn-type', 4, 'P' FROM n WHERE i%4 = 3`, txns)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// gnuCashWriter writes to an SQLite book as GnuCash does, one short write
// transaction per change with a busy timeout, until stopped; it records
// each write's duration, its wait for Ferry's lock included.
type gnuCashWriter struct {
	db      *sql.DB
	pace    time.Duration // between two saves; none when 0
	stop    chan struct{}
	done    chan struct{}
	first   chan struct{}
	writes  int
	longest time.Duration
	err     error
}

func startWriter(tb testing.TB, path string, pace time.Duration) *gnuCashWriter {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	w := &gnuCashWriter{db: db, pace: pace, stop: make(chan struct{}), done: make(chan struct{}), first: make(chan struct{})}
	go w.run()
	<-w.first
	return w
}

func (w *gnuCashWriter) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		wait := (<-chan time.Time)(nil)
		if w.pace > 0 && i > 0 {
			wait = time.After(w.pace) // a person's pace, not a synchronisation
		}
		if !w.waitOrStop(wait) {
			return
		}
		start := time.Now()
		if err := w.write(i); err != nil {
			w.err = err
			if i == 0 {
				close(w.first)
			}
			return
		}
		w.longest = max(w.longest, time.Since(start))
		if w.writes++; w.writes == 1 {
			close(w.first)
		}
	}
}

// waitOrStop waits for wait (not at all when nil) and reports whether
// the writer goes on.
func (w *gnuCashWriter) waitOrStop(wait <-chan time.Time) bool {
	if wait == nil {
		select {
		case <-w.stop:
			return false
		default:
			return true
		}
	}
	select {
	case <-w.stop:
		return false
	case <-wait:
		return true
	}
}

// writeSeq numbers the writers' transactions.
var writeSeq atomic.Int64

// write adds one balanced transaction, as GnuCash saves an entered one.
func (w *gnuCashWriter) write(int) error {
	i := int(writeSeq.Add(1)) // unique over every writer on the book
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	guid := fmt.Sprintf("9%031x", i)
	if _, err := tx.Exec("INSERT INTO transactions (guid, currency_guid, num, post_date, enter_date, description) "+
		"SELECT ?, guid, '', '2024-06-01 10:59:00', '2024-06-01 12:00:00', 'entered while Ferry reads' FROM commodities LIMIT 1", guid); err != nil {
		return err
	}
	for k, v := range []int{100, -100} {
		if _, err := tx.Exec(`INSERT INTO splits (guid, tx_guid, account_guid, memo, action, reconcile_state, value_num, value_denom,
			quantity_num, quantity_denom) VALUES (?, ?, ?, '', '', 'n', ?, 100, ?, 100)`,
			fmt.Sprintf("8%030x%d", i, k), guid, genAccounts[k].GUID, v, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// end stops the writer and returns its count, longest write and error.
func (w *gnuCashWriter) end() (int, time.Duration, error) {
	close(w.stop)
	<-w.done
	w.db.Close()
	return w.writes, w.longest, w.err
}

// fetchJournal fetches journal entries and checks every entry is whole.
func fetchJournal(tb testing.TB, ctx context.Context, src *Source) (int, error) {
	b, err := src.Fetch(ctx, dataset.JournalEntries)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	n := 0
	err = b.Records(ctx, func(r source.Record) error {
		if lines, _ := r["journalLines"].([]any); len(lines) != 2 {
			return fmt.Errorf("entry %s has %d lines, want 2", r["id"], len(lines))
		}
		n++
		return nil
	})
	return n, err
}

// TestSQLiteFetchWhileGnuCashWrites: GnuCash writes to its SQLite book
// without a pause while Ferry fetches it. The writer never fails, and the
// fetch reads one consistent version: whole transactions, as many as the
// book held at one moment. Under the race detector, which slows the pure-Go
// SQLite about tenfold, the book has 5,000 transactions (3.9 MB, four
// steps of the stepped backup, which the writer restarts: the same copy
// path as the 20,000 without it, 15.6 MB).
func TestSQLiteFetchWhileGnuCashWrites(t *testing.T) {
	txns := 20000
	if raceEnabled {
		txns = 5000
	}
	dir := t.TempDir()
	book := genSQLiteBook(t, dir, txns, false)
	tmp := t.TempDir()
	src, err := OpenWith(book, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, book, 0)
	n, ferr := fetchJournal(t, t.Context(), src)
	writes, _, werr := w.end()
	if werr != nil {
		t.Fatalf("GnuCash's write failed while Ferry read the book: %v", werr)
	}
	if ferr != nil {
		t.Fatalf("fetch while GnuCash writes: %v", ferr)
	}
	if n < txns+1 || n > txns+writes {
		t.Errorf("read %d entries; the book held %d to %d while it was read", n, txns+1, txns+writes)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("copies left behind: %v", left)
	}
}

// BenchmarkSQLiteFetchWhileWriting fetches the journal of a generated
// SQLite book of 1,000,000 splits while a writer saves changes as GnuCash
// does, without a pause or one every 100 ms (a fast typist), and reports
// the fetch's duration (fetch-ms; copy-ms of it is Fetch, the copy) beside
// the writer's longest wait for one save (writer-max-ms) and its saves
// during the fetch.
func BenchmarkSQLiteFetchWhileWriting(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a 1,000,000-split SQLite book")
	}
	book := genSQLiteBook(b, b.TempDir(), 500_000, false)
	for _, pace := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("1M-splits/writer-every-%s", pace), func(b *testing.B) {
			src, err := OpenWith(book, Options{TempDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			var fetch, cp, longest time.Duration
			writes := 0
			for b.Loop() {
				w := startWriter(b, book, pace)
				start := time.Now()
				bt, err := src.Fetch(b.Context(), dataset.JournalEntries)
				if err != nil {
					b.Fatal(err)
				}
				cp += time.Since(start)
				if err := bt.Records(b.Context(), func(source.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
				bt.Close()
				fetch += time.Since(start)
				n, l, err := w.end()
				if err != nil {
					b.Fatalf("writer: %v", err)
				}
				writes += n
				longest = max(longest, l)
			}
			b.ReportMetric(float64(fetch.Milliseconds())/float64(b.N), "fetch-ms")
			b.ReportMetric(float64(cp.Milliseconds())/float64(b.N), "copy-ms")
			b.ReportMetric(float64(longest.Microseconds())/1000, "writer-max-ms")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/fetch")
		})
	}
}
