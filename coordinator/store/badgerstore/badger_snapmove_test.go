package badgerstore_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestSnapshotKeysMovedAtOpen checks the one-time move of a store whose
// cached records are under rc/<company>/<type>/<ds>/<id> (the layout
// before short snapshot keys): opened, the store reads every record back,
// none is left at its old key, a written mark stays, and the next publish
// deletes the moved snapshot it replaces whole. More records than one
// move transaction holds.
func TestSnapshotKeysMovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	want := publishForMove(t, dir)
	toOldLayout(t, dir, rcLayout, movedRecords, "rc/co-1/customers/ds-9")
	b := openAt(t, dir)
	checkMoved(t, b, want)
	if left := keysUnder(t, b, "rc/"); fmt.Sprint(left) != "[rc/co-1/customers/ds-9]" {
		t.Errorf("keys under rc/ after the move: got %d (the first %q), want the written mark alone", len(left), left[:min(len(left), 2)])
	}
	if got := snapshotKeys(t, b, "co-1", dataset.Customers); strings.Contains(got, "?") || !strings.Contains(got, fmt.Sprintf("ds-1/%x", "c-1233")) {
		t.Errorf("the moved snapshot is not listed by its entry: %.200s", got)
	}

	u := newUploader(t, b, "co-1")
	u.publish("ds-2", dataset.Customers, "z")
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-2/%x]", "z"); got != want {
		t.Errorf("snapshots after the next publish: got %.200s, want %s", got, want)
	}
}

// movedRecords is how many records the tests of the moves publish: more
// than one move transaction holds.
const movedRecords = 1234

// publishForMove publishes movedRecords customers of co-1 as dataset ds-1
// in a new store at dir, closes it, and returns their ids as cachedIDs
// reads them.
func publishForMove(t *testing.T, dir string) string {
	t.Helper()
	b := openAt(t, dir)
	u := newUploader(t, b, "co-1")
	var ids []string
	for i := range movedRecords {
		ids = append(ids, fmt.Sprintf("c-%04d", i))
	}
	u.publish("ds-1", dataset.Customers, ids...)
	want := cachedIDs(t, b, "co-1", dataset.Customers)
	must(t, "Close", b.Close())
	return want
}

// checkMoved fails unless b, opened after a move, reads back the ids
// want, and record c-0777 by its id.
func checkMoved(t *testing.T, b *badgerstore.Badger, want string) {
	t.Helper()
	if got := cachedIDs(t, b, "co-1", dataset.Customers); got != want {
		t.Errorf("cached records after the move: got %d bytes of ids, want %d", len(got), len(want))
	}
	rec, err := b.CachedRecord(t.Context(), "co-1", "customers", "c-0777")
	if err != nil || !strings.Contains(string(rec), "c-0777") {
		t.Errorf("CachedRecord c-0777 after the move: got %q, %v", rec, err)
	}
}

// The layouts of cached records before chunks: a key a record under
// rc/<company>/<type>/<ds>/ (no entry, no marker), then under the
// snapshot's short prefix (with its entry).
const (
	rcLayout = "rc"
	rsLayout = "rs"
)

// toOldLayout rewrites the records of co-1's customers snapshot ds-1 in
// the store at dir (closed) as a store written in layout holds them, a
// key a record, with the markers of the moves since deleted; it fails
// unless there are records of them, and sets each of marks (written
// marks of the old layout).
func toOldLayout(t testing.TB, dir, layout string, records int, marks ...string) {
	t.Helper()
	b := openAt(t, dir)
	ids, vals, err := b.SnapshotEntries("co-1", "customers", "ds-1")
	must(t, "read the snapshot", err)
	must(t, "close", b.Close())
	if len(ids) != records {
		t.Fatalf("%d records in the snapshot's chunks, want %d", len(ids), records)
	}
	db := badgerstore.OpenRaw(t, dir)
	snap := []byte(badgerstore.SnapshotPrefix("co-1", "customers", "ds-1"))
	var chunks [][]byte
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: snap})
		defer it.Close()
		for it.Seek(snap); it.ValidForPrefix(snap); it.Next() {
			chunks = append(chunks, it.Item().KeyCopy(nil))
		}
		return nil
	})
	must(t, "read the chunks' keys", err)
	wb := db.NewWriteBatch()
	for _, k := range chunks {
		must(t, "delete chunk", wb.Delete(k))
	}
	old, gone := badgerstore.OneKeyPrefix("co-1", "customers", "ds-1"), []string{"mg/snapshot-chunks"}
	if layout == rcLayout {
		old, gone = "rc/co-1/customers/ds-1/", append(gone, "sn/co-1/customers/ds-1", "mg/snapshot-keys-moved")
	}
	for i, id := range ids {
		must(t, "set old key", wb.Set(fmt.Appendf(nil, "%s%x", old, id), vals[i]))
	}
	for _, k := range gone {
		must(t, "delete", wb.Delete([]byte(k)))
	}
	for _, k := range marks {
		must(t, "set mark", wb.Set([]byte(k), nil))
	}
	must(t, "rewrite to the old layout", wb.Flush())
	must(t, "close raw", db.Close())
}

// BenchmarkSnapshotKeysMove times the one-time move of a store's cached
// records at open: records moved a second (b.N stores of 20,000 records).
func BenchmarkSnapshotKeysMove(b *testing.B) {
	const n = 20000
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("c-%06d", i))
	}
	var moving time.Duration
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s, err := badgerstore.OpenUnsynced(dir, slog.New(slog.DiscardHandler))
		must(b, "open", err)
		u := newUploader(b, s, "co-1")
		u.publish("ds-1", dataset.Customers, ids...)
		must(b, "close", s.Close())
		toOldLayout(b, dir, rcLayout, n)
		b.StartTimer()
		start := time.Now()
		s, err = badgerstore.Open(dir, slog.New(slog.DiscardHandler))
		moving += time.Since(start)
		must(b, "open with the move", err)
		b.StopTimer()
		if got := cachedCount(b, s); got != n {
			b.Fatalf("%d records after the move, want %d", got, n)
		}
		must(b, "close", s.Close())
	}
	b.ReportMetric(float64(n*b.N)/moving.Seconds(), "records/s")
}

// cachedCount is how many of co-1's customers are cached.
func cachedCount(t testing.TB, s *badgerstore.Badger) int {
	t.Helper()
	n := 0
	must(t, "CachedRecords", s.CachedRecords(t.Context(), "co-1", string(dataset.Customers), func(string, []byte) error { n++; return nil }))
	return n
}
