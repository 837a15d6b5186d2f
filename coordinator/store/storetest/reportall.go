package storetest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// testReportAll: ReportAll applies its reports in one transaction, each
// as Report would (timeline entry, read.completed events, the first
// link's read.completed.initial once its last dataset ends, one change on
// the feed for them all), and skips those whose dataset moved on or is
// gone.
func testReportAll(f *fixture) {
	f.webhook("wh-1", store.EventReadCompleted, store.EventReadCompletedInitial)
	f.linked("co-1", "conn-1", "agent-1")
	first := []string{"ds-1", "ds-2", "ds-3"}
	types := []dataset.DataType{dataset.Invoices, dataset.Bills, dataset.Customers}
	for i, id := range first {
		_, err := f.s.QueueDataset(f.ctx, store.QueueRequest{ID: id, CompanyID: "co-1", ConnectionID: "conn-1",
			DataType: types[i], Now: at(1), Message: "queued by test", FirstLink: first})
		noErr(f, "QueueDataset "+id, err)
	}
	f.queue("co-1", "conn-1", "ds-4", dataset.Suppliers, 1) // not the first link's
	f.queue("co-1", "conn-1", "ds-t", dataset.Company, 1)
	f.fail("co-1", "ds-t", "agent-1", 2)
	before := f.dataset("co-1", "ds-t")
	sub := f.s.Feed().Subscribe(f.s.Feed().Head())

	mark := func(id string) store.Report {
		return store.Report{CompanyID: "co-1", DatasetID: id, Actor: store.ActorCoordinator, To: dataset.NotSupported,
			Message: "not provided", Now: at(10)}
	}
	got, err := f.s.ReportAll(f.ctx, []store.Report{mark("ds-1"), mark("ds-t"), mark("ds-2"), mark("ds-missing"),
		mark("ds-4"), mark("ds-3")})
	noErr(f, "ReportAll", err)
	eqIDs(f, "applied", got, "ds-1", "ds-2", "ds-4", "ds-3")
	for _, d := range got {
		eq(f, d.ID+" returned status", d.Status, dataset.NotSupported)
		checkTimeline(f, f.dataset("co-1", d.ID), queuedEntry(1), store.Transition{At: at(10), From: dataset.Queued,
			To: dataset.NotSupported, Actor: store.ActorCoordinator, Attempt: 1, Message: "not provided"})
	}
	if d := f.dataset("co-1", "ds-t"); d.Status != before.Status || len(d.Timeline) != len(before.Timeline) {
		f.Errorf("ds-t, skipped: got %s with %d entries, want %s with %d", d.Status, len(d.Timeline), before.Status, len(before.Timeline))
	}

	ds, err := f.s.DueDeliveries(f.ctx, at(100), 0)
	noErr(f, "DueDeliveries", err)
	var events []string
	for _, d := range ds {
		e := d.Event
		events = append(events, e.Type+":"+e.DatasetID)
		if e.Type == store.EventReadCompletedInitial {
			eq(f, "initial reads", fmt.Sprint(e.Reads), "[{ds-1 invoices NotSupported} {ds-2 bills NotSupported} {ds-3 customers NotSupported}]")
		}
	}
	want := map[string]bool{"read.completed:ds-t": true, "read.completed.initial:": true}
	for _, id := range []string{"ds-1", "ds-2", "ds-3", "ds-4"} {
		want["read.completed:"+id] = true
	}
	for _, e := range events {
		if !want[e] {
			f.Errorf("event %s, not wanted or twice (events %v)", e, events)
		}
		delete(want, e)
	}
	if len(want) != 0 {
		f.Errorf("events %v, missing %v", events, want)
	}

	// One change on the feed carries every dataset the call moved. The
	// setup's changes may come after the subscription's head (a backend
	// whose feed is delivered from its server, as PostgreSQL's is): only
	// changes to NotSupported count.
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	var commits []int
	for n := 0; n < len(got); {
		cs, err := sub.Next(ctx)
		noErr(f, "feed", err)
		for _, c := range cs {
			if slices.ContainsFunc(c.Datasets, func(d store.DatasetChange) bool { return d.To == dataset.NotSupported }) {
				commits = append(commits, len(c.Datasets))
				n += len(c.Datasets)
			}
		}
	}
	eq(f, "datasets of each change", fmt.Sprint(commits), fmt.Sprint([]int{len(got)}))
}

// testReportAllRefusals: a batch over store.MaxReports, or holding a
// malformed report, applies none; an empty one applies none and succeeds.
func testReportAllRefusals(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	mark := store.Report{CompanyID: "co-1", DatasetID: "ds-1", Actor: store.ActorCoordinator, To: dataset.NotSupported, Now: at(10)}
	malformed := mark
	malformed.Now = time.Time{}
	tooMany := make([]store.Report, store.MaxReports+1)
	for i := range tooMany {
		tooMany[i] = mark
	}
	for name, rs := range map[string][]store.Report{
		"malformed":                          {mark, malformed},
		fmt.Sprint(len(tooMany), " reports"): tooMany,
	} {
		got, err := f.s.ReportAll(f.ctx, rs)
		if err == nil {
			f.Errorf("ReportAll, %s: applied %d, want an error", name, len(got))
		}
		eq(f, "status after ReportAll, "+name, f.dataset("co-1", "ds-1").Status, dataset.Queued)
	}
	got, err := f.s.ReportAll(f.ctx, nil)
	noErr(f, "ReportAll of none", err)
	eq(f, "applied of none", len(got), 0)
}
