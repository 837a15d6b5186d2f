package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// finish is the store.Finish of dataset id validated at(sec) and
// completed at(sec+1), failing with failure unless it is empty.
func finish(co, id string, sec int, failure string) store.Finish {
	return store.Finish{CompanyID: co, DatasetID: id, Failure: failure, Validated: at(sec), Now: at(sec + 1),
		Validation: store.ValidationResult{
			Errors:   []store.ValidationItem{},
			Warnings: []store.ValidationItem{{RuleID: "w-" + id, ItemID: "b", Message: "a warning", ValidatorName: "customers"}},
		}}
}

// validating takes a new dataset through an upload of pages to
// Validating, committed at(sec+3).
func (f *fixture) validating(co, conn, id string, dt dataset.DataType, agent string, sec int, pages ...[]byte) {
	f.Helper()
	lease := "lease-" + id
	f.mapping(co, conn, id, dt, agent, lease, sec)
	f.upload(id, agent, lease, sec+3, pages...)
}

// wantMoves checks that change c moved customers dataset ds-1 of
// conn-1 (co-1) along path, one status to the next, and nothing else.
func wantMoves(f *fixture, c store.Change, path ...dataset.Status) {
	f.Helper()
	var want []store.DatasetChange
	for i := 1; i < len(path); i++ {
		want = append(want, store.DatasetChange{ID: "ds-1", CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.Customers, From: path[i-1], To: path[i]})
	}
	eq(f, "the change's datasets", fmt.Sprint(c.Datasets), fmt.Sprint(want))
}

// changeOf waits for the feed's change that moves dataset id from
// Validating, on sub.
func (f *fixture) changeOf(sub *store.Subscription, id string) store.Change {
	f.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	for {
		cs, err := sub.Next(ctx)
		if err != nil {
			f.Fatalf("waiting for the change of %s: %v", id, err)
		}
		for _, c := range cs {
			for _, d := range c.Datasets {
				if d.ID == id && d.From == dataset.Validating {
					return c
				}
			}
		}
	}
}

// testFinishUpload: FinishUpload does what SetValidation, Report and
// PublishCache do one after another, in one commit: the feed's one change
// carries each transition, and each has its own timeline entry.
func testFinishUpload(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.webhook("wh-1", store.EventReadCompleted)
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 0, page("ds-0", "old", "b"))
	f.validating("co-1", "conn-1", "ds-1", cust, "agent-1", 10, page("ds-1", "b", "a"), page("ds-1b", "b"))
	sub := f.s.Feed().Subscribe(f.s.Feed().Head())
	before := f.pending()

	d, err := f.s.FinishUpload(f.ctx, finish("co-1", "ds-1", 20, ""))
	noErr(f, "FinishUpload", err)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "status", d.Status, dataset.Complete)
		eqTime(f, "completed", d.Completed, at(21))
		eq(f, "progress", d.Progress, 100)
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-3:]},
			store.Transition{At: at(13), From: dataset.Mapping, To: dataset.Validating, Actor: store.ActorCoordinator, Attempt: 1, Message: "upload committed"},
			store.Transition{At: at(20), From: dataset.Validating, To: dataset.Processing, Actor: store.ActorCoordinator, Attempt: 1},
			store.Transition{At: at(21), From: dataset.Processing, To: dataset.Complete, Actor: store.ActorCoordinator, Attempt: 1})
	}
	c := f.changeOf(sub, "ds-1")
	wantMoves(f, c, dataset.Validating, dataset.Processing, dataset.Complete)
	eq(f, "the change's deliveries", c.Deliveries, 1)
	eq(f, "deliveries in the outbox", f.pending(), before+1)
	v, err := f.s.Validation(f.ctx, "co-1", "ds-1")
	noErr(f, "Validation", err)
	eq(f, "validation stored", fmt.Sprint(v), fmt.Sprint(finish("co-1", "ds-1", 20, "").Validation))
	f.wantCached("records after FinishUpload (a later line wins; the old snapshot gone)", "co-1", cust,
		func(id string) string { return map[string]string{"a": "ds-1", "b": "ds-1b"}[id] }, "a", "b")
	eq(f, "staged pages after FinishUpload", len(f.pages("ds-1")), 0)
	conn, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eqTime(f, "last sync", conn.LastSync, at(21))
	st, err := f.s.DataStatus(f.ctx, "co-1")
	noErr(f, "DataStatus", err)
	if s := st[cust].LatestSuccessful; s == nil || s.ID != "ds-1" {
		f.Errorf("latest successful: %+v, want ds-1", s)
	}
	f.wantCounts("after FinishUpload")
	un, err := f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed", err)
	eq(f, "unprocessed", len(un), 0)

	// An empty upload empties the type, as PublishCache's.
	f.validating("co-1", "conn-1", "ds-2", cust, "agent-1", 30)
	_, err = f.s.FinishUpload(f.ctx, finish("co-1", "ds-2", 40, ""))
	noErr(f, "FinishUpload of an empty upload", err)
	got, _ := f.cached("co-1", cust)
	eq(f, "records after an empty upload", len(got), 0)
}

// testFinishUploadFails: a failure ends the dataset ValidationError with
// its results, and leaves the cache as it was.
func testFinishUploadFails(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 0, page("ds-0", "a"))
	f.validating("co-1", "conn-1", "ds-1", cust, "agent-1", 10, page("ds-1", "a", "b"))
	fin := finish("co-1", "ds-1", 20, "2 validation errors; see the validation results")
	fin.Validation.Errors = []store.ValidationItem{{RuleID: "e", ItemID: "a", Message: "bad", ValidatorName: "customers"}}
	d, err := f.s.FinishUpload(f.ctx, fin)
	noErr(f, "FinishUpload", err)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "status", d.Status, dataset.ValidationError)
		eq(f, "error message", d.ErrorMessage, fin.Failure)
		eqTime(f, "completed", d.Completed, at(20))
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-1:]},
			store.Transition{At: at(20), From: dataset.Validating, To: dataset.ValidationError, Actor: store.ActorCoordinator, Attempt: 1, Message: fin.Failure})
	}
	v, err := f.s.Validation(f.ctx, "co-1", "ds-1")
	noErr(f, "Validation", err)
	eq(f, "validation stored", fmt.Sprint(v), fmt.Sprint(fin.Validation))
	f.wantCached("records after a failure", "co-1", cust, func(string) string { return "ds-0" }, "a")
	eq(f, "staged pages after a failure", len(f.pages("ds-1")), 0)
	f.wantCounts("after a failure")
}

// testFinishUploadRefusals: a refused FinishUpload leaves everything as it
// was: the dataset, its results, its pages and the cache.
func testFinishUploadRefusals(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.company("co-2", 0)
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 0, page("ds-0", "a"))
	f.validating("co-1", "conn-1", "ds-v", dataset.Invoices, "agent-1", 10, page("ds-v", "v"))
	f.mapping("co-1", "conn-1", "ds-m", dataset.Bills, "agent-1", "lease-m", 10)
	f.queue("co-1", "conn-1", "ds-q", dataset.Suppliers, 10)
	// Past MaxFinishRecords, and past MaxFinishBytes.
	ids := make([]string, store.MaxFinishRecords+1)
	for i := range ids {
		ids[i] = fmt.Sprint("r", i)
	}
	f.validating("co-1", "conn-1", "ds-many", cust, "agent-1", 10, page("ds-many", ids...))
	f.linked("co-3", "conn-3", "agent-3")
	big := page("ds-big", strings.Repeat("x", store.MaxFinishBytes/2), strings.Repeat("y", store.MaxFinishBytes/2))
	f.validating("co-3", "conn-3", "ds-big", cust, "agent-3", 10, big)

	refusals := []struct {
		name, co, id string
		want         error
	}{
		{"queued", "co-1", "ds-q", store.ErrTransition},
		{"mapping", "co-1", "ds-m", store.ErrTransition},
		{"complete", "co-1", "ds-0", store.ErrTransition},
		{"too many records", "co-1", "ds-many", store.ErrTooLarge},
		{"too many bytes", "co-3", "ds-big", store.ErrTooLarge},
		{"missing dataset", "co-1", "ds-missing", store.ErrNotFound},
		{"another company's dataset", "co-2", "ds-v", store.ErrNotFound},
		{"missing company", "co-missing", "ds-v", store.ErrNotFound},
	}
	for _, tt := range refusals {
		_, err := f.s.FinishUpload(f.ctx, finish(tt.co, tt.id, 30, ""))
		wantErr(f, "FinishUpload, "+tt.name, err, tt.want)
	}
	for _, id := range []string{"ds-v", "ds-many"} {
		d := f.dataset("co-1", id)
		eq(f, id+" after refusals: status", d.Status, dataset.Validating)
		eq(f, id+" after refusals: timeline", len(d.Timeline), 4)
		v, err := f.s.Validation(f.ctx, "co-1", id)
		noErr(f, "Validation", err)
		eq(f, id+" after refusals: results", len(v.Warnings), 0)
		eq(f, id+" after refusals: pages", len(f.pages(id)), 1)
	}
	eq(f, "mapping after a refusal", f.dataset("co-1", "ds-m").Status, dataset.Mapping)
	eq(f, "complete after a refusal", len(f.dataset("co-1", "ds-0").Timeline), 6)
	f.wantCached("records after refusals", "co-1", cust, func(string) string { return "ds-0" }, "a")
	f.wantCounts("after refusals")

	// A second call finds it finished and changes nothing.
	_, err := f.s.FinishUpload(f.ctx, finish("co-1", "ds-v", 40, ""))
	noErr(f, "FinishUpload", err)
	_, err = f.s.FinishUpload(f.ctx, finish("co-1", "ds-v", 50, ""))
	wantErr(f, "FinishUpload again", err, store.ErrTransition)
	eqTime(f, "completed after a second call", f.dataset("co-1", "ds-v").Completed, at(41))
	// A refused one goes the long way.
	noErr(f, "SetValidation", f.s.SetValidation(f.ctx, "co-1", "ds-many", store.ValidationResult{}))
	f.report(coordReport("co-1", "ds-many", dataset.Processing, 60))
	_, err = f.s.PublishCache(f.ctx, "co-1", "ds-many", at(61))
	noErr(f, "PublishCache after ErrTooLarge", err)
	got, _ := f.cached("co-1", cust)
	eq(f, "records published the long way", len(got), len(ids))
	// A small one replaces that snapshot, too large to delete in its
	// transaction: it goes after the commit.
	f.validating("co-1", "conn-1", "ds-after", cust, "agent-1", 70, page("ds-after", "z"))
	_, err = f.s.FinishUpload(f.ctx, finish("co-1", "ds-after", 80, ""))
	noErr(f, "FinishUpload after a large snapshot", err)
	f.wantCached("records replacing a large snapshot", "co-1", cust, func(string) string { return "ds-after" }, "z")
	_, err = f.s.CachedRecord(f.ctx, "co-1", string(cust), "r0")
	wantErr(f, "a record of the replaced large snapshot", err, store.ErrNotFound)
}

// testFinishUploadConcurrent: finishes of many datasets at once all
// commit (none keeps losing races to the others), and of two finishes of
// one dataset exactly one applies.
func testFinishUploadConcurrent(f *fixture) {
	const n = 16
	for i := range n {
		co := fmt.Sprint("co-", i)
		f.linked(co, "conn-"+co, "agent-"+co)
		f.validating(co, "conn-"+co, "ds-"+co, dataset.Customers, "agent-"+co, 10, page("ds-"+co, "a", "b"))
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		for range 2 {
			wg.Go(func() {
				co := fmt.Sprint("co-", i)
				_, err := f.s.FinishUpload(f.ctx, finish(co, "ds-"+co, 20, ""))
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	var ok, refused int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrTransition):
			refused++
		default:
			f.Errorf("FinishUpload: %v", err)
		}
	}
	eq(f, "finishes applied", ok, n)
	eq(f, "finishes refused", refused, n)
	for i := range n {
		co := fmt.Sprint("co-", i)
		d := f.dataset(co, "ds-"+co)
		eq(f, co+": status", d.Status, dataset.Complete)
		eq(f, co+": timeline", len(d.Timeline), 6)
		f.wantCached(co+": records", co, dataset.Customers, func(string) string { return "ds-" + co }, "a", "b")
	}
	f.wantCounts("after concurrent finishes")
}

// testFinishUploadCommit: with a lease, FinishUpload is the agent's
// commit too, in the same commit: Mapping, Validating, Processing,
// Complete, each transition at its own time with its own entry in the
// feed's one change. The commit's refusals leave the upload as it was,
// and a commit sent again changes nothing.
func testFinishUploadCommit(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-2", "conn-2", "agent-2")
	f.webhook("wh-1", store.EventReadCompleted)
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 0, page("ds-0", "old", "b"))
	f.mapping("co-1", "conn-1", "ds-1", cust, "agent-1", "lease-1", 10)
	f.putPage("agent-1", "ds-1", "lease-1", 1, page("ds-1", "b", "a"))
	commit := func(agent, lease, failure string, sec int) store.Finish {
		fin := finish("co-1", "ds-1", sec+7, failure)
		fin.AgentID, fin.LeaseID, fin.Committed = agent, lease, at(sec)
		return fin
	}
	refusals := []struct {
		name string
		fin  store.Finish
		want error
	}{
		{"another agent", commit("agent-2", "lease-1", "", 13), store.ErrNotFound},
		{"another lease", commit("agent-1", "lease-0", "", 13), store.ErrStaleLease},
		{"another company", func() store.Finish { c := commit("agent-1", "lease-1", "", 13); c.CompanyID = "co-2"; return c }(), store.ErrNotFound},
	}
	for _, tt := range refusals {
		_, err := f.s.FinishUpload(f.ctx, tt.fin)
		wantErr(f, "FinishUpload with a commit, "+tt.name, err, tt.want)
	}
	bad := commit("agent-1", "lease-1", "", 13)
	bad.Committed = at(30)
	_, err := f.s.FinishUpload(f.ctx, bad)
	if err == nil {
		f.Errorf("FinishUpload committed after it was validated: no error")
	}
	d := f.dataset("co-1", "ds-1")
	eq(f, "status after refusals", d.Status, dataset.Mapping)
	eq(f, "lease after refusals", d.LeaseID, "lease-1")
	eq(f, "pages after refusals", len(f.pages("ds-1")), 1)

	sub := f.s.Feed().Subscribe(f.s.Feed().Head())
	before := f.pending()
	d, err = f.s.FinishUpload(f.ctx, commit("agent-1", "lease-1", "", 13))
	noErr(f, "FinishUpload with a commit", err)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "status", d.Status, dataset.Complete)
		eq(f, "lease", d.LeaseID, "")
		eq(f, "committed lease", d.CommittedLease, "lease-1")
		eqTime(f, "completed", d.Completed, at(21))
		eq(f, "timeline", len(d.Timeline), 6)
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-3:]},
			store.Transition{At: at(13), From: dataset.Mapping, To: dataset.Validating, Actor: store.ActorCoordinator, Attempt: 1, Message: "upload committed"},
			store.Transition{At: at(20), From: dataset.Validating, To: dataset.Processing, Actor: store.ActorCoordinator, Attempt: 1},
			store.Transition{At: at(21), From: dataset.Processing, To: dataset.Complete, Actor: store.ActorCoordinator, Attempt: 1})
	}
	c := f.changeOf(sub, "ds-1")
	wantMoves(f, c, dataset.Mapping, dataset.Validating, dataset.Processing, dataset.Complete)
	eq(f, "deliveries in the outbox", f.pending(), before+1)
	f.wantCached("records after a commit's FinishUpload", "co-1", cust, func(string) string { return "ds-1" }, "a", "b")
	eq(f, "staged pages after a commit's FinishUpload", len(f.pages("ds-1")), 0)
	un, err := f.s.Unprocessed(f.ctx)
	noErr(f, "Unprocessed", err)
	eq(f, "unprocessed", len(un), 0)
	f.wantCounts("after a commit's FinishUpload")

	// The commit sent again changes nothing, whichever call carries it.
	d, err = f.s.FinishUpload(f.ctx, commit("agent-1", "lease-1", "", 40))
	noErr(f, "FinishUpload with the commit again", err)
	eq(f, "status after the commit again", d.Status, dataset.Complete)
	eq(f, "timeline after the commit again", len(f.dataset("co-1", "ds-1").Timeline), 6)
	_, err = f.s.CommitUpload(f.ctx, "agent-1", "ds-1", "lease-1", at(50))
	noErr(f, "CommitUpload after", err)
	eq(f, "timeline after CommitUpload", len(f.dataset("co-1", "ds-1").Timeline), 6)

	// A failure: Validating, then ValidationError; the cache stays.
	f.mapping("co-1", "conn-1", "ds-2", cust, "agent-1", "lease-2", 60)
	f.putPage("agent-1", "ds-2", "lease-2", 1, page("ds-2", "x"))
	fin := finish("co-1", "ds-2", 70, "1 validation errors; see the validation results")
	fin.AgentID, fin.LeaseID, fin.Committed = "agent-1", "lease-2", at(65)
	d, err = f.s.FinishUpload(f.ctx, fin)
	noErr(f, "FinishUpload with a commit that fails", err)
	eq(f, "status of a failure", d.Status, dataset.ValidationError)
	checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-2:]},
		store.Transition{At: at(65), From: dataset.Mapping, To: dataset.Validating, Actor: store.ActorCoordinator, Attempt: 1, Message: "upload committed"},
		store.Transition{At: at(70), From: dataset.Validating, To: dataset.ValidationError, Actor: store.ActorCoordinator, Attempt: 1, Message: fin.Failure})
	f.wantCached("records after a failed commit", "co-1", cust, func(string) string { return "ds-1" }, "a", "b")
	eq(f, "staged pages after a failed commit", len(f.pages("ds-2")), 0)
	f.wantCounts("after a failed commit")
}

// testFinishUploadLastPage: with Mapped and Page, FinishUpload is the
// agent's whole upload of a dataset still Fetching, in one commit: the
// agent's Mapping at Mapped, its last page staged, the commit, Processing
// and Complete, each transition at its own time, the feed's one change
// carrying each. Refused, nothing is staged; sent again, nothing changes.
func testFinishUploadLastPage(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.linked("co-2", "conn-2", "agent-2")
	cust := dataset.Customers
	f.publish("co-1", "conn-1", "ds-0", cust, "agent-1", 0, page("ds-0", "old"))
	f.queue("co-1", "conn-1", "ds-1", cust, 10)
	f.claim("ds-1", "agent-1", "lease-1", 11)
	last := func(agent, lease string, n int, data []byte) store.Finish {
		fin := finish("co-1", "ds-1", 20, "")
		fin.AgentID, fin.LeaseID, fin.Mapped, fin.Committed = agent, lease, at(12), at(13)
		fin.Page = &store.Page{AgentID: agent, DatasetID: "ds-1", LeaseID: lease, N: n,
			Records: bytes.Count(data, []byte("\n")), Data: data}
		return fin
	}
	refusals := []struct {
		name string
		fin  store.Finish
		want error
	}{
		{"another agent", last("agent-2", "lease-1", 1, page("ds-1", "a")), store.ErrNotFound},
		{"another lease", last("agent-1", "lease-0", 1, page("ds-1", "a")), store.ErrStaleLease},
		{"another company", func() store.Finish {
			c := last("agent-1", "lease-1", 1, page("ds-1", "a"))
			c.CompanyID = "co-2"
			return c
		}(), store.ErrNotFound},
	}
	for _, tt := range refusals {
		_, err := f.s.FinishUpload(f.ctx, tt.fin)
		wantErr(f, "FinishUpload with its last page, "+tt.name, err, tt.want)
	}
	for name, bad := range map[string]func(*store.Finish){
		"mapped after the commit":   func(fin *store.Finish) { fin.Mapped = at(14) },
		"a page of another lease":   func(fin *store.Finish) { fin.Page.LeaseID = "lease-0" },
		"a page without the lease":  func(fin *store.Finish) { fin.LeaseID = "" },
		"a page without records":    func(fin *store.Finish) { fin.Page.Records, fin.Page.Data = 0, nil },
		"a page of another dataset": func(fin *store.Finish) { fin.Page.DatasetID = "ds-0" },
	} {
		fin := last("agent-1", "lease-1", 1, page("ds-1", "a"))
		bad(&fin)
		if _, err := f.s.FinishUpload(f.ctx, fin); err == nil {
			f.Errorf("FinishUpload with %s: no error", name)
		}
	}
	d := f.dataset("co-1", "ds-1")
	eq(f, "status after refusals", d.Status, dataset.Fetching)
	eq(f, "pages after refusals", len(f.pages("ds-1")), 0)

	sub := f.s.Feed().Subscribe(f.s.Feed().Head())
	d, err := f.s.FinishUpload(f.ctx, last("agent-1", "lease-1", 1, page("ds-1", "a", "b")))
	noErr(f, "FinishUpload with its last page", err)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "status", d.Status, dataset.Complete)
		eq(f, "committed lease", d.CommittedLease, "lease-1")
		checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[len(d.Timeline)-4:]},
			store.Transition{At: at(12), From: dataset.Fetching, To: dataset.Mapping, Actor: "agent-1", Attempt: 1},
			store.Transition{At: at(13), From: dataset.Mapping, To: dataset.Validating, Actor: store.ActorCoordinator, Attempt: 1, Message: "upload committed"},
			store.Transition{At: at(20), From: dataset.Validating, To: dataset.Processing, Actor: store.ActorCoordinator, Attempt: 1},
			store.Transition{At: at(21), From: dataset.Processing, To: dataset.Complete, Actor: store.ActorCoordinator, Attempt: 1})
	}
	c := f.changeOf(sub, "ds-1")
	wantMoves(f, c, dataset.Fetching, dataset.Mapping, dataset.Validating, dataset.Processing, dataset.Complete)
	f.wantCached("records after the last page's FinishUpload", "co-1", cust, func(string) string { return "ds-1" }, "a", "b")
	eq(f, "staged pages after", len(f.pages("ds-1")), 0)
	f.wantCounts("after the last page's FinishUpload")
	// Sent again: nothing changes.
	_, err = f.s.FinishUpload(f.ctx, last("agent-1", "lease-1", 1, page("ds-1", "a", "b")))
	noErr(f, "FinishUpload with its last page again", err)
	eq(f, "timeline after it again", len(f.dataset("co-1", "ds-1").Timeline), 6)

	// The last of two pages of a dataset Mapping already: no Mapping step,
	// and the snapshot is both pages, in order (a later line wins).
	f.mapping("co-1", "conn-1", "ds-2", cust, "agent-1", "lease-2", 30)
	f.putPage("agent-1", "ds-2", "lease-2", 1, page("ds-2a", "a", "b"))
	fin := finish("co-1", "ds-2", 40, "")
	data := page("ds-2b", "b")
	fin.AgentID, fin.LeaseID, fin.Mapped, fin.Committed = "agent-1", "lease-2", at(34), at(35)
	fin.Page = &store.Page{AgentID: "agent-1", DatasetID: "ds-2", LeaseID: "lease-2", N: 2, Records: 1, Data: data}
	d, err = f.s.FinishUpload(f.ctx, fin)
	noErr(f, "FinishUpload with the second of two pages", err)
	eq(f, "timeline of two pages", len(d.Timeline), 6)
	f.wantCached("records of two pages", "co-1", cust,
		func(id string) string { return map[string]string{"a": "ds-2a", "b": "ds-2b"}[id] }, "a", "b")

	// Too large: nothing changes, the dataset is still Fetching.
	f.queue("co-1", "conn-1", "ds-3", cust, 50)
	f.claim("ds-3", "agent-1", "lease-3", 51)
	ids := make([]string, store.MaxFinishRecords+1)
	for i := range ids {
		ids[i] = fmt.Sprint("r", i)
	}
	fin = finish("co-1", "ds-3", 60, "")
	data = page("ds-3", ids...)
	fin.AgentID, fin.LeaseID, fin.Mapped, fin.Committed = "agent-1", "lease-3", at(52), at(53)
	fin.Page = &store.Page{AgentID: "agent-1", DatasetID: "ds-3", LeaseID: "lease-3", N: 1, Records: len(ids), Data: data}
	_, err = f.s.FinishUpload(f.ctx, fin)
	wantErr(f, "FinishUpload with a last page too large", err, store.ErrTooLarge)
	eq(f, "status after too large", f.dataset("co-1", "ds-3").Status, dataset.Fetching)
	eq(f, "pages after too large", len(f.pages("ds-3")), 0)
}
