package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
)

// TestSorterRuns sorts 3,000 records given in no order, a third of them
// twice, in at most 4 KiB: the sorter writes them as several sorted runs
// and merges them into chunks in id order, of one id the record added
// last; no run is left.
func TestSorterRuns(t *testing.T) {
	b, err := OpenUnsynced(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.sortBytes = 4 << 10
	ctx := context.Background()
	snap := snapshotPrefix("co-1", "customers", "ds-1")
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	s := snapshotSorter{ctx: ctx, b: b, snap: snap, write: wb.Set}

	want := map[string]string{}
	r := rand.New(rand.NewPCG(1, 2))
	order := r.Perm(3000)
	for _, i := range append(order, order[:1000]...) {
		id := fmt.Sprintf("r%05d", i)
		val := fmt.Sprintf("%s-%d", id, len(want))
		if _, again := want[id]; again {
			val = id + "-again"
		}
		want[id] = val
		if err := s.add([]byte(id), []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.runs < 10 {
		t.Errorf("sorted runs: got %d, want 10 or more in 4 KiB", s.runs)
	}
	var last []byte
	n := 0
	err = b.view(ctx, func(txn *tx) error {
		if anyUnder(txn, append(bytes.Clone(snap), 'r')) {
			t.Errorf("a sorted run's chunk left after the merge")
		}
		return eachChunk(ctx, txn, chunksPrefix(snap), func(c []byte) error {
			return eachEntry(c, func(id, v []byte) (bool, error) {
				if last != nil && bytes.Compare(last, id) >= 0 {
					t.Errorf("id %s after %s", id, last)
				}
				if want[string(id)] != string(v) {
					t.Errorf("record %s: got %q, want %q", id, v, want[string(id)])
				}
				last, n = bytes.Clone(id), n+1
				return true, nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("records in the chunks: got %d, want %d", n, len(want))
	}
}

// TestChunkEntries checks that a chunk that does not parse is an error,
// not a panic, however it is cut, and that findEntry finds every id of a
// chunk and no other.
func TestChunkEntries(t *testing.T) {
	var c []byte
	for _, id := range []string{"a", "b/slash", "c", "\x00zero", "long" + string(bytes.Repeat([]byte("x"), 300))} {
		c = appendEntry(c, []byte(id), []byte(`{"id":"`+id+`"}`))
	}
	for n := range c {
		_ = eachEntry(c[:n], func(id, val []byte) (bool, error) { return true, nil })
	}
	if err := eachEntry([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, func(_, _ []byte) (bool, error) { return true, nil }); err == nil {
		t.Errorf("a length past the chunk: no error")
	}

	b, err := OpenUnsynced(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	snap := snapshotPrefix("co-1", "customers", "ds-1")
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	s := snapshotSorter{ctx: t.Context(), snap: snap, write: wb.Set}
	var ids []string
	for i := range 2000 { // several chunks
		ids = append(ids, fmt.Sprintf("id-%05d", i*2))
		if err := s.add([]byte(ids[i]), bytes.Repeat([]byte("v"), 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	err = b.view(t.Context(), func(txn *tx) error {
		chunks, _, err := scanKeys(txn, chunksPrefix(snap), 0)
		if err != nil {
			return err
		}
		if len(chunks) < 3 {
			t.Errorf("chunks: got %d, want 3 or more", len(chunks))
		}
		for _, id := range ids {
			if _, found, err := findEntry(txn, chunksPrefix(snap), id); err != nil || !found {
				t.Errorf("findEntry %s: got %v, %v", id, found, err)
			}
		}
		for _, id := range []string{"", "a", "id-00001", "id-01999", "id-03999", "id-04000", "z"} {
			if _, found, err := findEntry(txn, chunksPrefix(snap), id); err != nil || found {
				t.Errorf("findEntry %q, of no record: got %v, %v", id, found, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
