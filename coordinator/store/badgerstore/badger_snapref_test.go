package badgerstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestSnapshotReferencesPages publishes a dataset of indexed pages (as
// the hub stages them): the snapshot's values are references into the
// pages, not copies of the records (each record is written once), and
// after a reopen the cache reads every record back whole; the next
// publish deletes the replaced snapshot's pages.
func TestSnapshotReferencesPages(t *testing.T) {
	dir := t.TempDir()
	b := openAt(t, dir)
	u := newUploader(t, b, "co-1")
	u.mapping("ds-1", dataset.Customers, "lease-1")
	want := map[string]string{}
	// Pages 1 and 2 are small enough for Badger to keep in its tree, page 3
	// (80 KiB) goes to the value log.
	for n, records := range []int{1: 50, 2: 50, 3: 300} {
		if n == 0 {
			continue
		}
		var data strings.Builder
		var lines []store.Line
		for i := range records {
			id := fmt.Sprintf("c-%d-%03d", n, i)
			rec := fmt.Sprintf(`{"id":%q,"name":"customer %s","pad":%q}`, id, id, strings.Repeat("x", 200))
			lines = append(lines, store.Line{ID: id, Start: data.Len(), End: data.Len() + len(rec)})
			data.WriteString(rec + "\n")
			want[id] = rec
		}
		must(t, "PutPage", b.PutPage(t.Context(), store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1",
			N: n, Records: records, Data: []byte(data.String()), Lines: lines}))
	}
	u.processing("ds-1", "lease-1")
	_, err := b.PublishCache(t.Context(), "co-1", "ds-1", sec(8))
	must(t, "PublishCache", err)

	ids, vals, err := b.SnapshotEntries("co-1", "customers", "ds-1")
	must(t, "SnapshotEntries", err)
	refs := 0
	for i, id := range ids {
		if len(vals[i]) > 16 {
			t.Fatalf("snapshot value of %s: %d bytes %q; want a reference into its page", id, len(vals[i]), vals[i])
		}
		refs++
	}
	if refs != len(want) {
		t.Fatalf("snapshot keys: got %d, want %d", refs, len(want))
	}
	var staged int
	must(t, "Pages", b.Pages(t.Context(), "ds-1", func(store.Page) error { staged++; return nil }))
	if staged != 0 {
		t.Errorf("pages of the Complete dataset: got %d, want none", staged)
	}

	must(t, "Close", b.Close())
	b = openAt(t, dir)
	got := map[string]string{}
	must(t, "CachedRecords", b.CachedRecords(t.Context(), "co-1", string(dataset.Customers), func(id string, rec []byte) error {
		got[id] = string(rec)
		return nil
	}))
	if len(got) != len(want) {
		t.Fatalf("cached records after a reopen: got %d, want %d", len(got), len(want))
	}
	for id, rec := range want {
		if got[id] != rec {
			t.Errorf("cached record %s: got %q, want %q", id, got[id], rec)
		}
	}
	one, err := b.CachedRecord(t.Context(), "co-1", string(dataset.Customers), "c-3-207")
	if err != nil || string(one) != want["c-3-207"] {
		t.Errorf("CachedRecord c-2-07: got %q, %v; want %q", one, err, want["c-3-207"])
	}

	u = newUploader(t, b, "co-1")
	u.publish("ds-2", dataset.Customers, "z")
	if left := keysUnder(t, b, "pg/co-1/ds-1/"); len(left) > 0 {
		t.Errorf("pages of the replaced snapshot after the next publish: %v", left)
	}
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-2/%x]", "z"); got != want {
		t.Errorf("snapshots after the next publish: got %s, want ds-2's record alone, %s", got, want)
	}
}

// TestCachedRecordExistsReadsKeyAlone checks that existence is the
// record's key alone: with the staged page a snapshot's records refer to
// gone, CachedRecord cannot read a record back, and CachedRecordExists
// still finds it, as it did when validation asked CachedRecord (which
// resolved the reference into the page) for every reference.
func TestCachedRecordExistsReadsKeyAlone(t *testing.T) {
	b := openTest(t)
	u := newUploader(t, b, "co-1")
	u.mapping("ds-1", dataset.Customers, "lease-1")
	var data strings.Builder
	var lines []store.Line
	for _, id := range []string{"c-1", "c-2"} {
		rec := fmt.Sprintf(`{"id":%q,"name":"customer %s"}`, id, id)
		lines = append(lines, store.Line{ID: id, Start: data.Len(), End: data.Len() + len(rec)})
		data.WriteString(rec + "\n")
	}
	must(t, "PutPage", b.PutPage(t.Context(), store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1",
		N: 1, Records: len(lines), Data: []byte(data.String()), Lines: lines}))
	u.processing("ds-1", "lease-1")
	_, err := b.PublishCache(t.Context(), "co-1", "ds-1", sec(8))
	must(t, "PublishCache", err)

	pages := keysUnder(t, b, "pg/co-1/ds-1/")
	if len(pages) != 1 {
		t.Fatalf("staged pages of the snapshot: %q, want one", pages)
	}
	must(t, "DeleteRaw", b.DeleteRaw(pages[0]))
	cust := string(dataset.Customers)
	if rec, err := b.CachedRecord(t.Context(), "co-1", cust, "c-2"); err == nil {
		t.Fatalf("CachedRecord with its page gone = %q; want an error (the value is a reference)", rec)
	}
	for id, want := range map[string]bool{"c-1": true, "c-2": true, "c-3": false} {
		if found, err := b.CachedRecordExists(t.Context(), "co-1", cust, id); err != nil || found != want {
			t.Errorf("CachedRecordExists(%s) with the page gone = %v, %v; want %v", id, found, err, want)
		}
	}
}
