package badgerstore

import (
	"context"

	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestCollectGarbageKeepsLiveData runs value-log GC over a store whose value
// log is mostly deleted values and checks that it ends without error and
// that every live value survives. (When Badger decides to rewrite a file is
// up to its discard statistics; a test cannot force it through the public
// API.)
func TestCollectGarbageKeepsLiveData(t *testing.T) {
	dir := t.TempDir()
	opts := badger.DefaultOptions(dir).WithValueLogFileSize(1 << 20).WithValueThreshold(1 << 10).WithBaseTableSize(1 << 15)
	b, err := openBadgerWith(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	val := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10) }
	for i := range 60 {
		if err := b.update(context.Background(), func(txn *tx) error { return txn.Set(fmt.Appendf(nil, "k%02d", i), val(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 45 {
		if err := b.update(context.Background(), func(txn *tx) error { return txn.Delete(fmt.Appendf(nil, "k%02d", i)) }); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := b.CollectGarbage(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 45; i < 60; i++ {
		err := b.view(context.Background(), func(txn *tx) error {
			item, err := txn.Get(fmt.Appendf(nil, "k%02d", i))
			if err != nil {
				return err
			}
			got, err := item.ValueCopy(nil)
			if err == nil && !bytes.Equal(got, val(i)) {
				err = fmt.Errorf("value changed")
			}
			return err
		})
		if err != nil {
			t.Errorf("k%02d after gc: %v", i, err)
		}
	}
}
