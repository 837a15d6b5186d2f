package badgerstore_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestPublishSortsInRuns publishes three pages of records in no id order,
// the later pages repeating ids of the earlier (pages 1 and 3 with a line
// index, page 2 without), on a store whose sort holds 2 KiB and on one
// with the default: both read back every id once, in order, with the
// record of the last page that held it, by CachedRecords, CachedRecord
// and CachedRecordExists, and leave no sorted run behind.
func TestPublishSortsInRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pages := [][]string{1: nil, 2: nil, 3: nil}
	for _, i := range r.Perm(600) {
		pages[1] = append(pages[1], fmt.Sprintf("c-%04d", i))
	}
	for _, i := range r.Perm(900)[:300] {
		pages[2+i%2] = append(pages[2+i%2], fmt.Sprintf("c-%04d", i))
	}
	want := map[string]int{} // id -> the last page holding it
	for n, ids := range pages {
		for _, id := range ids {
			want[id] = n
		}
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})

	var reads []string
	for _, sortBytes := range []int{2 << 10, 0} {
		b := openTest(t)
		if sortBytes > 0 {
			b.SetSortBytes(sortBytes)
		}
		u := newUploader(t, b, "co-1")
		u.mapping("ds-1", dataset.Customers, "lease-1")
		for n, page := range pages {
			if n == 0 {
				continue
			}
			var data strings.Builder
			var lines []store.Line
			for _, id := range page {
				rec := fmt.Sprintf(`{"id":%q,"page":%d}`, id, n)
				lines = append(lines, store.Line{ID: id, Start: data.Len(), End: data.Len() + len(rec)})
				data.WriteString(rec + "\n")
			}
			if n == 2 {
				lines = nil
			}
			must(t, "PutPage", b.PutPage(t.Context(), store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1",
				N: n, Records: len(page), Data: []byte(data.String()), Lines: lines}))
		}
		u.processing("ds-1", "lease-1")
		_, err := b.PublishCache(t.Context(), "co-1", "ds-1", sec(8))
		must(t, "PublishCache", err)

		var got []string
		var read strings.Builder
		must(t, "CachedRecords", b.CachedRecords(t.Context(), "co-1", "customers", func(id string, rec []byte) error {
			got = append(got, id)
			read.Write(rec)
			var v struct {
				ID   string
				Page int
			}
			if err := json.Unmarshal(rec, &v); err != nil || v.ID != id || v.Page != want[id] {
				t.Errorf("sort %d: record %s: got %s, want it of page %d", sortBytes, id, rec, want[id])
			}
			return nil
		}))
		if !slices.Equal(got, ids) {
			t.Fatalf("sort %d: ids read: got %d (%.80v), want %d in order", sortBytes, len(got), got, len(ids))
		}
		reads = append(reads, read.String())
		for _, id := range ids[:50] {
			rec, err := b.CachedRecord(t.Context(), "co-1", "customers", id)
			if err != nil || !strings.Contains(string(rec), fmt.Sprintf(`"page":%d`, want[id])) {
				t.Errorf("sort %d: CachedRecord %s: got %s, %v", sortBytes, id, rec, err)
			}
		}
		for id, exists := range map[string]bool{ids[0]: true, ids[len(ids)-1]: true, "c-0900": false, "c": false, "d": false} {
			if found, err := b.CachedRecordExists(t.Context(), "co-1", "customers", id); err != nil || found != exists {
				t.Errorf("sort %d: CachedRecordExists %s: got %v, %v; want %v", sortBytes, id, found, err, exists)
			}
		}
		if keys := snapshotKeys(t, b, "co-1", dataset.Customers); strings.Contains(keys, "?") {
			t.Errorf("sort %d: keys left: %.300s", sortBytes, keys)
		}
	}
	if reads[0] != reads[1] {
		t.Errorf("the records sorted in runs differ from those sorted at once")
	}
}

// TestSnapshotChunkedAtOpen checks the one-time move of a store whose
// cached records are a key each under the snapshot's short prefix (the
// layout before chunks): opened, the store reads every record back in
// order and by id, none is left at its old key, and a chunk a move cut
// short left is not read.
func TestSnapshotChunkedAtOpen(t *testing.T) {
	dir := t.TempDir()
	want := publishForMove(t, dir)
	toOldLayout(t, dir, rsLayout, movedRecords)
	db := badgerstore.OpenRaw(t, dir)
	// What a move cut short after its first chunk may have left.
	stale := fmt.Appendf(nil, "%sczzz", badgerstore.SnapshotPrefix("co-1", "customers", "ds-1"))
	must(t, "set a stale chunk", db.Update(func(txn *badger.Txn) error {
		return txn.Set(stale, []byte("\x03zzz\x02{}"))
	}))
	must(t, "close raw", db.Close())

	b := openAt(t, dir)
	checkMoved(t, b, want)
	if left := keysUnder(t, b, "rs/"); len(left) != 0 {
		t.Errorf("keys under rs/ after the move: got %d (the first %q), want none", len(left), left[:min(len(left), 2)])
	}
	if got := snapshotKeys(t, b, "co-1", dataset.Customers); strings.Contains(got, "?") || strings.Contains(got, fmt.Sprintf("%x", "zzz")) {
		t.Errorf("the moved snapshot's keys: %.200s", got)
	}
}

// TestImportRefusesRecordsApart: a dump whose records of one snapshot are
// not together (an Export never writes one) is refused, not written as
// two sets of chunks over each other.
func TestImportRefusesRecordsApart(t *testing.T) {
	b := openTest(t)
	rec := func(ds, id string) store.CachedRecord {
		return store.CachedRecord{CompanyID: "co-1", DataType: dataset.Customers, DatasetID: ds, ID: id, Data: []byte(`{"id":"` + id + `"}`)}
	}
	items := []store.Item{store.Company{ID: "co-1", Created: sec(1)}, rec("ds-1", "a"), rec("ds-2", "b"), rec("ds-1", "c")}
	err := b.Import(t.Context(), func(yield func(store.Item) error) error {
		for _, it := range items {
			if err := yield(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "apart") {
		t.Errorf("Import of a snapshot's records apart: got %v, want the refusal", err)
	}
}

// BenchmarkCachedRecordExists looks up ids in a snapshot of 50,000
// records, as a validation looks up the records another type refers to:
// half of them held, half not.
func BenchmarkCachedRecordExists(b *testing.B) {
	s := openTest(b)
	u := newUploader(b, s, "co-1")
	var ids []string
	for i := range 50000 {
		ids = append(ids, fmt.Sprintf("c-%06d", i*2))
	}
	u.publish("ds-1", dataset.Customers, ids...)
	r := rand.New(rand.NewPCG(5, 6))
	b.ResetTimer()
	for range b.N {
		i := r.IntN(100000)
		ok, err := s.CachedRecordExists(b.Context(), "co-1", "customers", fmt.Sprintf("c-%06d", i))
		must(b, "CachedRecordExists", err)
		if ok != (i%2 == 0) {
			b.Fatalf("c-%06d: found %v", i, ok)
		}
	}
}
