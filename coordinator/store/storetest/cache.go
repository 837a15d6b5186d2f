package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// rec is the NDJSON line of record id in the snapshot marked marker.
func rec(marker, id string) string {
	b, err := json.Marshal(struct {
		ID string `json:"id"`
		DS string `json:"ds"`
	}{id, marker})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// page is the NDJSON of records ids, all marked marker.
func page(marker string, ids ...string) []byte {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(rec(marker, id) + "\n")
	}
	return []byte(b.String())
}

// publish takes a new dataset from Queued through an upload of pages to
// Complete, starting at(sec); PublishCache runs at(sec+5).
func (f *fixture) publish(co, conn, id string, dt dataset.DataType, agent string, sec int, pages ...[]byte) store.Dataset {
	f.Helper()
	lease := "lease-" + id
	f.mapping(co, conn, id, dt, agent, lease, sec)
	f.upload(id, agent, lease, sec+3, pages...)
	f.report(coordReport(co, id, dataset.Processing, sec+4))
	d, err := f.s.PublishCache(f.ctx, co, id, at(sec+5))
	noErr(f, "PublishCache("+id+")", err)
	return d
}

// cached returns the ids and records of the current snapshot, in order.
func (f *fixture) cached(co string, dt dataset.DataType) (ids, recs []string) {
	f.Helper()
	err := f.s.CachedRecords(f.ctx, co, string(dt), func(id string, r []byte) error {
		ids, recs = append(ids, id), append(recs, string(r))
		return nil
	})
	noErr(f, "CachedRecords", err)
	return ids, recs
}

// wantCached fails unless the snapshot is the records ids, in that order,
// each marked by the snapshot marker gives it.
func (f *fixture) wantCached(what, co string, dt dataset.DataType, marker func(id string) string, ids ...string) {
	f.Helper()
	got, recs := f.cached(co, dt)
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		f.Errorf("%s: got records %q, want %q", what, got, ids)
		return
	}
	for i, id := range ids {
		eq(f, what+": record "+id, recs[i], rec(marker(id), id))
	}
}

func testPublishCache(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.company("co-2", 0)
	cust := dataset.Customers
	ids := []string{"a/slash", "b", "c d", "ü", "ǅ"}
	d := f.publish("co-1", "conn-1", "ds-1", cust, "agent-1", 10, page("ds-1", "ü", "b", "a/slash"), page("ds-1", "ǅ", "c d"))
	published := store.Transition{At: at(15), From: dataset.Processing, To: dataset.Complete, Actor: store.ActorCoordinator, Attempt: 1}
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "published status", d.Status, dataset.Complete)
		eqTime(f, "published completed", d.Completed, at(15))
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-1:]}, published)
	}
	c, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eqTime(f, "last sync", c.LastSync, at(15))
	ds1 := func(string) string { return "ds-1" }
	f.wantCached("published records, in id order", "co-1", cust, ds1, ids...)
	eq(f, "staged pages after publishing", len(f.pages("ds-1")), 0)

	r, err := f.s.CachedRecord(f.ctx, "co-1", string(cust), "a/slash")
	noErr(f, "CachedRecord", err)
	eq(f, "cached record", string(r), rec("ds-1", "a/slash"))
	misses := []struct{ name, co, dt, id string }{
		{"missing id", "co-1", string(cust), "z"},
		{"empty id", "co-1", string(cust), ""},
		{"type without a snapshot", "co-1", string(dataset.Suppliers), "b"},
		{"another company", "co-2", string(cust), "b"},
		{"missing company", "co-missing", string(cust), "b"},
	}
	for _, tt := range misses {
		_, err := f.s.CachedRecord(f.ctx, tt.co, tt.dt, tt.id)
		wantErr(f, "CachedRecord, "+tt.name, err, store.ErrNotFound)
	}
	for _, id := range ids {
		found, err := f.s.CachedRecordExists(f.ctx, "co-1", string(cust), id)
		noErr(f, "CachedRecordExists "+id, err)
		eq(f, "CachedRecordExists "+id, found, true)
	}
	for _, tt := range misses[:len(misses)-1] {
		found, err := f.s.CachedRecordExists(f.ctx, tt.co, tt.dt, tt.id)
		noErr(f, "CachedRecordExists, "+tt.name, err)
		eq(f, "CachedRecordExists, "+tt.name, found, false)
	}
	_, err = f.s.CachedRecordExists(f.ctx, "co-missing", string(cust), "b")
	wantErr(f, "CachedRecordExists, missing company", err, store.ErrNotFound)
	got, _ := f.cached("co-1", dataset.Suppliers)
	eq(f, "records of a type without a snapshot", len(got), 0)
	err = f.s.CachedRecords(f.ctx, "co-missing", string(cust), func(string, []byte) error { return nil })
	wantErr(f, "CachedRecords(missing company)", err, store.ErrNotFound)

	again, err := f.s.PublishCache(f.ctx, "co-1", "ds-1", at(99))
	noErr(f, "PublishCache again", err)
	eq(f, "published again: timeline entries", len(again.Timeline), len(d.Timeline))
	eqTime(f, "published again: completed", f.dataset("co-1", "ds-1").Completed, at(15))

	f.mapping("co-1", "conn-1", "ds-v", dataset.Invoices, "agent-1", "lease-v", 20)
	f.upload("ds-v", "agent-1", "lease-v", 23, page("ds-v", "v"))
	f.queue("co-1", "conn-1", "ds-q", dataset.Bills, 20)
	refusals := []struct {
		name, co, id string
		want         error
	}{
		{"validating", "co-1", "ds-v", store.ErrTransition},
		{"queued", "co-1", "ds-q", store.ErrTransition},
		{"missing dataset", "co-1", "ds-missing", store.ErrNotFound},
		{"another company's dataset", "co-2", "ds-1", store.ErrNotFound},
		{"missing company", "co-missing", "ds-1", store.ErrNotFound},
	}
	for _, tt := range refusals {
		_, err := f.s.PublishCache(f.ctx, tt.co, tt.id, at(30))
		wantErr(f, "PublishCache, "+tt.name, err, tt.want)
	}
	eq(f, "validating after a refused publish", f.dataset("co-1", "ds-v").Status, dataset.Validating)
}

// testPublishCacheReplace checks that a new snapshot replaces the old one
// whole, and that PublishCache deletes the pages of failed datasets.
func testPublishCacheReplace(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-1", cust, "agent-1", 10, page("ds-1", "a/slash", "b", "c"))
	f.mapping("co-1", "conn-1", "ds-v", dataset.Invoices, "agent-1", "lease-v", 20)
	f.upload("ds-v", "agent-1", "lease-v", 23, page("ds-v", "v"))
	f.report(coordReport("co-1", "ds-v", dataset.ValidationError, 31))
	eq(f, "pages of a failed dataset", len(f.pages("ds-v")), 1)

	// A later line of an id wins.
	f.publish("co-1", "conn-1", "ds-2", cust, "agent-1", 40, page("ds-2", "d", "a/slash"), page("ds-2b", "d"))
	f.wantCached("records after a new snapshot", "co-1", cust, func(id string) string {
		return map[string]string{"a/slash": "ds-2", "d": "ds-2b"}[id]
	}, "a/slash", "d")
	_, err := f.s.CachedRecord(f.ctx, "co-1", string(cust), "b")
	wantErr(f, "CachedRecord of a replaced snapshot", err, store.ErrNotFound)
	found, err := f.s.CachedRecordExists(f.ctx, "co-1", string(cust), "b")
	noErr(f, "CachedRecordExists of a replaced snapshot", err)
	eq(f, "CachedRecordExists of a replaced snapshot", found, false)
	_, err = f.s.PublishCache(f.ctx, "co-1", "ds-1", at(50))
	wantErr(f, "PublishCache of a replaced snapshot", err, store.ErrTransition)
	f.wantCached("records after a refused publish", "co-1", cust, func(id string) string {
		return map[string]string{"a/slash": "ds-2", "d": "ds-2b"}[id]
	}, "a/slash", "d")
	eq(f, "pages of a failed dataset after a publish", len(f.pages("ds-v")), 0)

	// Other types keep theirs; an empty upload empties the type.
	f.publish("co-1", "conn-1", "ds-s", dataset.Suppliers, "agent-1", 60, page("ds-s", "s"))
	f.publish("co-1", "conn-1", "ds-3", cust, "agent-1", 70)
	got, _ := f.cached("co-1", cust)
	eq(f, "records after an empty snapshot", len(got), 0)
	f.wantCached("another type's records", "co-1", dataset.Suppliers, func(string) string { return "ds-s" }, "s")
}

// bigSnapshot returns the ids of a snapshot of more records than a page
// of PostgreSQL's reader (1,000), so that a read spans pages, and its two
// pages, each record marked with marker.
func bigSnapshot() (ids []string, pages func(marker string) [][]byte) {
	const n = 2500
	ids = make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%04d", i)
	}
	return ids, func(marker string) [][]byte {
		return [][]byte{page(marker, ids[:n/2]...), page(marker, ids[n/2:]...)}
	}
}

// testPublishCacheConsistent reads the whole snapshot over and over while
// new snapshots of the same ids replace it: every read must be one whole
// snapshot, all its records of one dataset.
func testPublishCacheConsistent(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	ids, pages := bigSnapshot()
	n := len(ids)
	f.publish("co-1", "conn-1", "ds-0", dataset.Customers, "agent-1", 0, pages("ds-0")...)

	stop := make(chan struct{})
	var (
		wg    sync.WaitGroup
		seen  = map[string]int{}
		reads int
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			markers := map[string]int{}
			count := 0
			err := f.s.CachedRecords(f.ctx, "co-1", string(dataset.Customers), func(id string, r []byte) error {
				var v struct{ ID, DS string }
				if err := json.Unmarshal(r, &v); err != nil || v.ID != id {
					return fmt.Errorf("record %s: %s", id, r)
				}
				markers[v.DS]++
				count++
				runtime.Gosched() // let a swap happen in the middle of the read
				return nil
			})
			if err != nil || count != n || len(markers) != 1 {
				f.Errorf("read %d: got %d records of snapshots %v (err %v), want %d of one", reads, count, markers, err, n)
				return
			}
			for m := range markers {
				seen[m]++
			}
			reads++
		}
	})
	const snapshots = 6
	for i := 1; i <= snapshots; i++ {
		id := fmt.Sprintf("ds-%d", i)
		f.publish("co-1", "conn-1", id, dataset.Customers, "agent-1", 100*i, pages(id)...)
	}
	close(stop)
	wg.Wait()
	f.Logf("%d whole reads, of snapshots %v", reads, seen)
	last := fmt.Sprintf("ds-%d", snapshots)
	f.wantCached("the last snapshot", "co-1", dataset.Customers, func(string) string { return last }, ids...)
}

// testPublishCacheReaderPaused pauses a reader after its first record
// while a new snapshot replaces the one it reads and the one replaced is
// dropped: the reader still reads the whole of the one it started, and a
// reader after it the new.
func testPublishCacheReaderPaused(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	ids, pages := bigSnapshot()
	n := len(ids)
	f.publish("co-1", "conn-1", "ds-0", dataset.Customers, "agent-1", 0, pages("ds-0")...)
	paused, resume := make(chan struct{}), make(chan struct{})
	markers := map[string]int{}
	done := make(chan error, 1)
	go func() {
		done <- f.s.CachedRecords(f.ctx, "co-1", string(dataset.Customers), func(id string, r []byte) error {
			if len(markers) == 0 {
				close(paused)
				<-resume
			}
			var v struct{ DS string }
			if err := json.Unmarshal(r, &v); err != nil {
				return err
			}
			markers[v.DS]++
			return nil
		})
	}()
	select {
	case <-paused:
	case err := <-done:
		f.Fatalf("the read ended before its first record: %v", err)
	}
	f.publish("co-1", "conn-1", "ds-1", dataset.Customers, "agent-1", 100, pages("ds-1")...)
	close(resume)
	if err := <-done; err != nil || len(markers) != 1 || markers["ds-0"] != n {
		f.Errorf("the paused read: %v (err %v), want %d records of ds-0", markers, err, n)
	}
	f.wantCached("after the paused read", "co-1", dataset.Customers, func(string) string { return "ds-1" }, ids...)
}

// testPublishCacheLarge publishes a dataset far larger than one Badger
// transaction holds, then replaces it.
func testPublishCacheLarge(f *fixture) {
	if testing.Short() {
		f.Skip("200,000 records: skipped in -short mode")
	}
	f.linked("co-1", "conn-1", "agent-1")
	const records, perPage = 200_000, 5000
	var pages [][]byte
	for p := 0; p < records/perPage; p++ {
		ids := make([]string, perPage)
		for i := range ids {
			ids[i] = fmt.Sprintf("r%07d", p*perPage+i)
		}
		pages = append(pages, page("ds-big", ids...))
	}
	f.publish("co-1", "conn-1", "ds-big", dataset.JournalEntries, "agent-1", 0, pages...)
	count, prev := 0, ""
	err := f.s.CachedRecords(f.ctx, "co-1", string(dataset.JournalEntries), func(id string, _ []byte) error {
		if id <= prev {
			return fmt.Errorf("record %s after %s", id, prev)
		}
		count, prev = count+1, id
		return nil
	})
	noErr(f, "CachedRecords", err)
	eq(f, "records of a large snapshot", count, records)
	eq(f, "last record", prev, fmt.Sprintf("r%07d", records-1))

	f.publish("co-1", "conn-1", "ds-small", dataset.JournalEntries, "agent-1", 100, page("ds-small", "r0000007"))
	f.wantCached("records after the large snapshot was replaced", "co-1", dataset.JournalEntries,
		func(string) string { return "ds-small" }, "r0000007")
}

// testDeleteCompanyData checks that DeleteCompany takes the agent-side
// data with it: staged pages, cached records, the connection index.
func testDeleteCompanyData(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.publish("co-1", "conn-1", "ds-1", dataset.Customers, "agent-1", 0, page("ds-1", "a", "b"))
	f.mapping("co-1", "conn-1", "ds-2", dataset.Suppliers, "agent-1", "lease-2", 10)
	f.putPage("agent-1", "ds-2", "lease-2", 1, page("ds-2", "x"))
	f.mapping("co-1", "conn-1", "ds-3", dataset.Invoices, "agent-1", "lease-3", 10)
	f.upload("ds-3", "agent-1", "lease-3", 13, page("ds-3", "y"))
	noErr(f, "DeleteCompany", f.s.DeleteCompany(f.ctx, "co-1"))

	err := f.s.CachedRecords(f.ctx, "co-1", string(dataset.Customers), func(string, []byte) error { return nil })
	wantErr(f, "CachedRecords after DeleteCompany", err, store.ErrNotFound)
	wantErr(f, "Pages after DeleteCompany", f.s.Pages(f.ctx, "ds-2", func(store.Page) error { return nil }), store.ErrNotFound)
	eq(f, "agent's connections after DeleteCompany", f.agentConns("agent-1"), "[]")
	list, err := f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed", err)
	eqIDs(f, "unprocessed after DeleteCompany", list)

	// The same ids again find nothing of the old company.
	f.linked("co-1", "conn-1", "agent-1")
	got, _ := f.cached("co-1", dataset.Customers)
	eq(f, "records of a new company with the old id", len(got), 0)
	_, err = f.s.CachedRecord(f.ctx, "co-1", string(dataset.Customers), "a")
	wantErr(f, "CachedRecord of a new company with the old id", err, store.ErrNotFound)
	f.mapping("co-1", "conn-1", "ds-2", dataset.Suppliers, "agent-1", "lease-2", 20)
	eq(f, "pages of a new dataset with the old ids", len(f.pages("ds-2")), 0)
	err = f.s.Pages(f.ctx, "ds-1", func(store.Page) error { return errors.New("a page of a deleted dataset") })
	wantErr(f, "Pages of a deleted dataset", err, store.ErrNotFound)
}

// testWriteSnapshot checks the snapshot written in the validation's pass:
// check sees every record in page order (again when the snapshot is
// written already), nothing shows before the swap, PublishCache swaps it
// in whole, check's error is returned, and a snapshot whose dataset fails
// validation never shows.
func testWriteSnapshot(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.company("co-2", 0)
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 10, page("ds-0", "old"))
	ds0 := func(string) string { return "ds-0" }

	f.mapping("co-1", "conn-1", "ds-1", cust, "agent-1", "lease-1", 20)
	f.upload("ds-1", "agent-1", "lease-1", 23, page("ds-1", "b", "a"), page("ds-1", "c"))
	want := []string{rec("ds-1", "b"), rec("ds-1", "a"), rec("ds-1", "c")}
	for _, pass := range []string{"first pass", "pass over a written snapshot"} {
		var seen []string
		err := f.s.WriteSnapshot(f.ctx, "co-1", "ds-1", func(r []byte) error {
			seen = append(seen, string(r))
			return nil
		})
		noErr(f, "WriteSnapshot, "+pass, err)
		eq(f, "records checked, "+pass, fmt.Sprint(seen), fmt.Sprint(want))
		f.wantCached("records before the swap, "+pass, "co-1", cust, ds0, "old")
	}
	f.report(coordReport("co-1", "ds-1", dataset.Processing, 24))
	d, err := f.s.PublishCache(f.ctx, "co-1", "ds-1", at(25))
	noErr(f, "PublishCache of a written snapshot", err)
	eq(f, "status after the swap", d.Status, dataset.Complete)
	f.wantCached("records after the swap", "co-1", cust, func(string) string { return "ds-1" }, "a", "b", "c")

	f.mapping("co-1", "conn-1", "ds-2", cust, "agent-1", "lease-2", 30)
	f.upload("ds-2", "agent-1", "lease-2", 33, page("ds-2", "x", "y"))
	stop := errors.New("stop")
	n := 0
	err = f.s.WriteSnapshot(f.ctx, "co-1", "ds-2", func([]byte) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	wantErr(f, "WriteSnapshot, check fails", err, stop)
	n = 0
	noErr(f, "WriteSnapshot after a check failed", f.s.WriteSnapshot(f.ctx, "co-1", "ds-2", func([]byte) error { n++; return nil }))
	eq(f, "records checked after a check failed", n, 2)
	f.report(coordReport("co-1", "ds-2", dataset.ValidationError, 34))
	f.wantCached("records after a validation error", "co-1", cust, func(string) string { return "ds-1" }, "a", "b", "c")
	f.publish("co-1", "conn-1", "ds-3", cust, "agent-1", 40, page("ds-3", "z"))
	f.wantCached("records after the next publish", "co-1", cust, func(string) string { return "ds-3" }, "z")

	f.queue("co-1", "conn-1", "ds-q", dataset.Bills, 50)
	refusals := []struct {
		name, co, id string
		want         error
	}{
		{"complete", "co-1", "ds-1", store.ErrTransition},
		{"validation error", "co-1", "ds-2", store.ErrTransition},
		{"queued", "co-1", "ds-q", store.ErrTransition},
		{"missing dataset", "co-1", "ds-missing", store.ErrNotFound},
		{"another company's dataset", "co-2", "ds-1", store.ErrNotFound},
		{"missing company", "co-missing", "ds-1", store.ErrNotFound},
	}
	for _, tt := range refusals {
		err := f.s.WriteSnapshot(f.ctx, tt.co, tt.id, func([]byte) error { return nil })
		wantErr(f, "WriteSnapshot, "+tt.name, err, tt.want)
	}
}
