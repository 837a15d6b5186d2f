package badgerstore_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

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
	b := openAt(t, dir)
	u := newUploader(t, b, "co-1")
	var ids []string
	for i := range 1234 {
		ids = append(ids, fmt.Sprintf("c-%04d", i))
	}
	u.publish("ds-1", dataset.Customers, ids...)
	want := cachedIDs(t, b, "co-1", dataset.Customers)
	must(t, "Close", b.Close())

	// Back to the old layout, as a store written before holds it.
	db := badgerstore.OpenRaw(t, dir)
	snap := []byte(badgerstore.SnapshotPrefix("co-1", "customers", "ds-1"))
	err := db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: snap})
		var keys, vals [][]byte
		for it.Seek(snap); it.ValidForPrefix(snap); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			keys, vals = append(keys, it.Item().KeyCopy(nil)), append(vals, v)
		}
		it.Close()
		if len(keys) != len(ids) {
			return fmt.Errorf("%d records under the snapshot's prefix, want %d", len(keys), len(ids))
		}
		for i, k := range keys {
			old := append([]byte("rc/co-1/customers/ds-1/"), bytes.TrimPrefix(k, snap)...)
			if err := txn.Set(old, vals[i]); err != nil {
				return err
			}
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range []string{"sn/co-1/customers/ds-1", "mg/snapshot-keys-moved"} {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		// A written mark of a snapshot not swapped in yet.
		return txn.Set([]byte("rc/co-1/customers/ds-9"), nil)
	})
	must(t, "rewrite to the old layout", err)
	must(t, "close raw", db.Close())

	b = openAt(t, dir)
	if got := cachedIDs(t, b, "co-1", dataset.Customers); got != want {
		t.Errorf("cached records after the move: got %d bytes of ids, want %d", len(got), len(want))
	}
	rec, err := b.CachedRecord(t.Context(), "co-1", "customers", "c-0777")
	if err != nil || !strings.Contains(string(rec), "c-0777") {
		t.Errorf("CachedRecord c-0777 after the move: got %q, %v", rec, err)
	}
	if left := keysUnder(t, b, "rc/"); fmt.Sprint(left) != "[rc/co-1/customers/ds-9]" {
		t.Errorf("keys under rc/ after the move: got %d (the first %q), want the written mark alone", len(left), left[:min(len(left), 2)])
	}
	if got := snapshotKeys(t, b, "co-1", dataset.Customers); strings.Contains(got, "?") || !strings.Contains(got, fmt.Sprintf("ds-1/%x", "c-1233")) {
		t.Errorf("the moved snapshot is not listed by its entry: %.200s", got)
	}

	u = newUploader(t, b, "co-1")
	u.publish("ds-2", dataset.Customers, "z")
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-2/%x]", "z"); got != want {
		t.Errorf("snapshots after the next publish: got %.200s, want %s", got, want)
	}
}
