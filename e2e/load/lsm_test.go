package main

import (
	"expvar"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestReadLSM reads Badger's counters as a coordinator's debug listener
// serves them (expvar), around real reads of a real store, and reports
// what moved between two readings.
func TestReadLSM(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	db, err := openBaseline(dir)
	must(err)
	for i := range 100 {
		must(db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%03d", i), []byte("v")) }))
	}
	must(db.Close()) // the memtable goes to a table, which the reads seek
	db, err = openBaseline(dir)
	must(err)
	defer db.Close()
	srv := httptest.NewServer(expvar.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	before, err := readLSM(t.Context(), addr)
	must(err)
	for i := range 100 {
		must(db.View(func(txn *badger.Txn) error { _, err := txn.Get(fmt.Appendf(nil, "k%03d", i)); return err }))
	}
	after, err := readLSM(t.Context(), addr)
	must(err)
	u := after.sub(before)
	// Other tests of the package may read a store at the same time.
	if u.Gets < 100 || u.TableSeeks < 100 {
		t.Errorf("after 100 reads of keys in a table: %s, want at least 100 point reads and a table seek each", u)
	}
}

// The phase's row says how many point reads, the table seeks each cost,
// and what compaction wrote; with no reads counted it says so.
func TestReportBadgerCounters(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Phases: allPhases, SmallDatasets: 2000,
		DatasetsLSM: lsmUse{Gets: 40000, TableSeeks: 90000, CompactedBytes: 48 << 20}}).print(&b)
	want := "| Badger during the small datasets (its counters) | 40000 point reads, 2.25 table seeks each; compaction wrote 48.0 MiB |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	if want := "| Badger during the dispatch (its counters) | not measured"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	if got := (lsmUse{}).String(); !strings.Contains(got, "n/a") {
		t.Errorf("no reads: %q, want n/a", got)
	}
}
