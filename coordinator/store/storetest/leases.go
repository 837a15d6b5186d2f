package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func testClaim(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	d := f.claim("ds-1", "agent-1", "lease-1", 10)
	for _, d := range []store.Dataset{d, f.dataset("co-1", "ds-1")} {
		eq(f, "status", d.Status, dataset.Fetching)
		eq(f, "lease", d.LeaseID, "lease-1")
		eq(f, "lease agent", d.LeaseAgent, "agent-1")
		eqTime(f, "lease expires", d.LeaseExpires, at(10).Add(ttl))
		eq(f, "progress", d.Progress, store.StageProgress(dataset.Fetching))
		eq(f, "attempt", d.Attempt, 1)
		checkTimeline(f, d, queuedEntry(1), store.Transition{
			At: at(10), From: dataset.Queued, To: dataset.Fetching, Actor: "agent-1", Attempt: 1,
		})
	}
	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets", err)
	eq(f, "queued after the claim", len(q), 0)
}

func testClaimRefusals(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-pending", store.PendingAuth, "")
	f.connection("co-1", "conn-deauth", store.Linked, "agent-1")
	f.queue("co-1", "conn-1", "ds-queued", dataset.Customers, 1)
	f.queue("co-1", "conn-1", "ds-claimed", dataset.Suppliers, 1)
	f.claim("ds-claimed", "agent-1", "lease-1", 2)
	f.queue("co-1", "conn-1", "ds-ended", dataset.Invoices, 1)
	f.fail("co-1", "ds-ended", "agent-1", 2)
	f.queue("co-1", "conn-pending", "ds-pending", dataset.Customers, 1)
	f.queue("co-1", "conn-deauth", "ds-deauth", dataset.Customers, 1)
	_, err := f.s.UpdateConnection(f.ctx, "co-1", "conn-deauth", func(c *store.Connection) error {
		c.Status = store.Deauthorized
		return nil
	})
	noErr(f, "UpdateConnection", err)

	tests := []struct {
		name, id, agent string
		want            error
	}{
		{"missing dataset", "ds-missing", "agent-1", store.ErrNotFound},
		{"another agent's connection", "ds-queued", "agent-2", store.ErrNotFound},
		{"connection not linked yet", "ds-pending", "agent-1", store.ErrNotFound},
		{"claimed already", "ds-claimed", "agent-1", store.ErrNotQueued},
		{"terminal", "ds-ended", "agent-1", store.ErrNotQueued},
		{"deauthorized connection", "ds-deauth", "agent-1", store.ErrNotQueued},
	}
	for _, tt := range tests {
		_, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: tt.id, AgentID: tt.agent, LeaseID: "lease-x", Now: at(5), TTL: ttl})
		wantErr(f, "Claim, "+tt.name, err, tt.want)
	}
	eq(f, "refused claim of a queued dataset", f.dataset("co-1", "ds-queued").Status, dataset.Queued)
	eq(f, "lease after a refused claim", f.dataset("co-1", "ds-claimed").LeaseID, "lease-1")
	eq(f, "deauthorized dataset", f.dataset("co-1", "ds-deauth").Status, dataset.AuthError)
}

func testClaimConcurrent(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	for i, n := range []int{2, 3, 8, 16, 32} {
		id := fmt.Sprintf("ds-%d", n)
		f.queue("co-1", "conn-1", id, dataset.DataTypes[i], 1)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range n {
			wg.Go(func() {
				<-start
				_, errs[g] = f.s.Claim(f.ctx, store.ClaimRequest{
					DatasetID: id, AgentID: "agent-1", LeaseID: fmt.Sprintf("lease-%d", g), Now: at(2), TTL: ttl,
				})
			})
		}
		close(start)
		wg.Wait()
		winners := []int{}
		for g, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, g)
			case !errors.Is(err, store.ErrNotQueued):
				f.Errorf("%d claims: a loser got %v, want ErrNotQueued", n, err)
			}
		}
		if len(winners) != 1 {
			f.Errorf("%d concurrent claims: got winners %v, want exactly one", n, winners)
			continue
		}
		d := f.dataset("co-1", id)
		eq(f, fmt.Sprintf("%d claims: lease", n), d.LeaseID, fmt.Sprintf("lease-%d", winners[0]))
		eq(f, fmt.Sprintf("%d claims: timeline entries", n), len(d.Timeline), 2)
	}
}

func testReportLifecycle(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 1)
	f.claim("ds-1", "agent-1", "lease-1", 10)
	steps := []struct {
		r        store.Report
		progress int
		lease    string
	}{
		{agentReport("co-1", "ds-1", "agent-1", "lease-1", dataset.Mapping, 20), 40, "lease-1"},
		{coordReport("co-1", "ds-1", dataset.Validating, 30), 80, ""},
		{coordReport("co-1", "ds-1", dataset.Processing, 40), 90, ""},
		{coordReport("co-1", "ds-1", dataset.Complete, 50), 100, ""},
	}
	var d store.Dataset
	for _, s := range steps {
		d = f.report(s.r)
		eq(f, "status", d.Status, s.r.To)
		eq(f, string(s.r.To)+" progress", d.Progress, s.progress)
		eq(f, string(s.r.To)+" lease", d.LeaseID, s.lease)
	}
	eqTime(f, "completed", d.Completed, at(50))
	eq(f, "error message", d.ErrorMessage, "")
	entry := func(sec int, from, to dataset.Status, actor string) store.Transition {
		msg := fmt.Sprintf("%s by %s", to, actor) // as agentReport and coordReport write it
		return store.Transition{At: at(sec), From: from, To: to, Actor: actor, Attempt: 1, Message: msg}
	}
	claimed := entry(10, dataset.Queued, dataset.Fetching, "agent-1")
	claimed.Message = ""
	want := []store.Transition{
		queuedEntry(1), claimed,
		entry(20, dataset.Fetching, dataset.Mapping, "agent-1"),
		entry(30, dataset.Mapping, dataset.Validating, store.ActorCoordinator),
		entry(40, dataset.Validating, dataset.Processing, store.ActorCoordinator),
		entry(50, dataset.Processing, dataset.Complete, store.ActorCoordinator),
	}
	checkTimeline(f, d, want...)
	checkTimeline(f, f.dataset("co-1", "ds-1"), want...)
	c, err := f.s.Connection(f.ctx, "co-1", "conn-1")
	noErr(f, "Connection", err)
	eqTime(f, "connection last sync", c.LastSync, at(50))

	// Failures: the message is kept, and the last sync does not move.
	f.queue("co-1", "conn-1", "ds-2", dataset.Bills, 60)
	f.claim("ds-2", "agent-1", "lease-2", 61)
	r := agentReport("co-1", "ds-2", "agent-1", "lease-2", dataset.FetchError, 62)
	r.Message = "book is locked by another program"
	d = f.report(r)
	eq(f, "failed status", d.Status, dataset.FetchError)
	eq(f, "failed message", d.ErrorMessage, r.Message)
	eqTime(f, "failed completed", d.Completed, at(62))
	eq(f, "failed progress", d.Progress, 100)
	eq(f, "failed lease", d.LeaseID, "")
	f.queue("co-1", "conn-1", "ds-3", dataset.Customers, 63)
	d = f.report(coordReport("co-1", "ds-3", dataset.InternalError, 64))
	eq(f, "internal error message", d.ErrorMessage, "InternalError by coordinator")
	c, _ = f.s.Connection(f.ctx, "co-1", "conn-1")
	eqTime(f, "last sync after failures", c.LastSync, at(50))
}

func testReportRefusals(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.company("co-2", 0)
	f.queue("co-1", "conn-1", "ds-queued", dataset.Company, 1)
	f.queue("co-1", "conn-1", "ds-f", dataset.Customers, 1)
	f.claim("ds-f", "agent-1", "lease-f", 2)
	f.queue("co-1", "conn-1", "ds-m", dataset.Suppliers, 1)
	f.claim("ds-m", "agent-1", "lease-m", 2)
	f.report(agentReport("co-1", "ds-m", "agent-1", "lease-m", dataset.Mapping, 3))
	f.queue("co-1", "conn-1", "ds-v", dataset.Invoices, 1)
	f.claim("ds-v", "agent-1", "lease-v", 2)
	f.report(agentReport("co-1", "ds-v", "agent-1", "lease-v", dataset.Mapping, 3))
	f.report(coordReport("co-1", "ds-v", dataset.Validating, 4))
	f.queue("co-1", "conn-1", "ds-t", dataset.Bills, 1)
	f.fail("co-1", "ds-t", "agent-1", 2)

	agent := func(id, lease string, to dataset.Status) store.Report {
		return agentReport("co-1", id, "agent-1", lease, to, 10)
	}
	otherActor := agent("ds-f", "lease-f", dataset.Mapping)
	otherActor.Actor = "agent-2"
	otherCompany := coordReport("co-2", "ds-v", dataset.Processing, 10)
	// Another agent's reports learn nothing of the dataset, not even that
	// it exists: the answer is ErrNotFound whatever its state.
	otherTerminal := agent("ds-t", "lease-ds-t", dataset.MapError)
	otherTerminal.Actor = "agent-2"
	otherResend := agent("ds-t", "lease-ds-t", dataset.FetchError)
	otherResend.Actor = "agent-2"
	tests := []struct {
		name string
		r    store.Report
		want error
	}{
		{"stale lease", agent("ds-f", "lease-old", dataset.Mapping), store.ErrStaleLease},
		{"lease of another agent", otherActor, store.ErrNotFound},
		{"another agent on a terminal dataset", otherTerminal, store.ErrNotFound},
		{"another agent resending a terminal status", otherResend, store.ErrNotFound},
		{"lease on a dataset past the agent", agent("ds-v", "lease-v", dataset.Processing), store.ErrStaleLease},
		{"coordinator moving the agent's transition", coordReport("co-1", "ds-f", dataset.Mapping, 10), store.ErrTransition},
		{"agent moving the coordinator's transition", agent("ds-m", "lease-m", dataset.Validating), store.ErrTransition},
		{"requeue by report", coordReport("co-1", "ds-f", dataset.Queued, 10), store.ErrTransition},
		{"fetch without a claim", coordReport("co-1", "ds-queued", dataset.Fetching, 10), store.ErrTransition},
		{"skipping a stage", agent("ds-f", "lease-f", dataset.Validating), store.ErrTransition},
		{"skipping processing", coordReport("co-1", "ds-v", dataset.Complete, 10), store.ErrTransition},
		{"queued to complete", coordReport("co-1", "ds-queued", dataset.Complete, 10), store.ErrTransition},
		{"terminal to another status", coordReport("co-1", "ds-t", dataset.InternalError, 10), store.ErrTransition},
		{"terminal to another status by the agent", agent("ds-t", "lease-ds-t", dataset.MapError), store.ErrTransition},
		{"missing dataset", coordReport("co-1", "ds-missing", dataset.InternalError, 10), store.ErrNotFound},
		{"another company's dataset", otherCompany, store.ErrNotFound},
	}
	before := map[string]store.Dataset{}
	for _, id := range []string{"ds-queued", "ds-f", "ds-m", "ds-v", "ds-t"} {
		before[id] = f.dataset("co-1", id)
	}
	for _, tt := range tests {
		_, err := f.s.Report(f.ctx, tt.r)
		wantErr(f, "Report, "+tt.name, err, tt.want)
	}
	for id, b := range before {
		d := f.dataset("co-1", id)
		if d.Status != b.Status || len(d.Timeline) != len(b.Timeline) || d.LeaseID != b.LeaseID {
			f.Errorf("%s changed by refused reports: got %s with %d entries, want %s with %d",
				id, d.Status, len(d.Timeline), b.Status, len(b.Timeline))
		}
	}
}

func testReportIdempotent(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	f.claim("ds-1", "agent-1", "lease-1", 2)
	f.queue("co-1", "conn-1", "ds-2", dataset.Suppliers, 1)
	f.claim("ds-2", "agent-1", "lease-2", 2)
	mapping := agentReport("co-1", "ds-1", "agent-1", "lease-1", dataset.Mapping, 3)
	failed := agentReport("co-1", "ds-2", "agent-1", "lease-2", dataset.FetchError, 3)
	validating := coordReport("co-1", "ds-1", dataset.Validating, 5)
	tests := []struct {
		name string
		r    store.Report
	}{
		{"agent's report", mapping},
		{"agent's final report", failed},
		{"coordinator's report", validating},
	}
	for _, tt := range tests {
		first := f.report(tt.r)
		resent := tt.r
		resent.Now = resent.Now.Add(1)
		again := f.report(resent)
		eq(f, tt.name+" resent: status", again.Status, first.Status)
		eq(f, tt.name+" resent: timeline entries", len(again.Timeline), len(first.Timeline))
		eq(f, tt.name+" resent: stored timeline entries", len(f.dataset("co-1", tt.r.DatasetID).Timeline), len(first.Timeline))
		eqTime(f, tt.name+" resent: completed", again.Completed, first.Completed)
	}
	_, err := f.s.Report(f.ctx, mapping)
	wantErr(f, "agent's report resent after the coordinator moved on", err, store.ErrStaleLease)
}

func testReportProgress(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	f.claim("ds-1", "agent-1", "lease-1", 2)
	progress := func(to dataset.Status, progress int) store.Report {
		r := agentReport("co-1", "ds-1", "agent-1", "lease-1", to, 3)
		r.Progress = progress
		return r
	}
	steps := []struct {
		name string
		r    store.Report
		want int
	}{
		{"raised", progress(dataset.Fetching, 20), 20},
		{"never lowered", progress(dataset.Fetching, 10), 20},
		{"kept within the stage", progress(dataset.Fetching, 90), store.StageProgress(dataset.Mapping) - 1},
		{"next stage", progress(dataset.Mapping, 0), store.StageProgress(dataset.Mapping)},
		{"raised in the next stage", progress(dataset.Mapping, 60), 60},
		{"kept within the last agent stage", progress(dataset.Mapping, 99), store.StageProgress(dataset.Validating) - 1},
		{"progress ignored on a transition", coordReport("co-1", "ds-1", dataset.Validating, 4), store.StageProgress(dataset.Validating)},
	}
	for _, s := range steps {
		d := f.report(s.r)
		eq(f, "progress "+s.name, d.Progress, s.want)
		eq(f, "stored progress "+s.name, f.dataset("co-1", "ds-1").Progress, s.want)
	}
	d := f.dataset("co-1", "ds-1")
	eq(f, "timeline entries after progress reports", len(d.Timeline), 4)
}

// testReportWarnings: an agent's warnings come with its transition and stay
// with the dataset through the coordinator's; a resent report adds none,
// and a dataset keeps at most MaxWarnings.
func testReportWarnings(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	f.claim("ds-1", "agent-1", "lease-1", 2)
	open := store.Warning{RuleID: "source.bookOpen", Message: "the book is open in GnuCash on till-pc"}
	mapping := agentReport("co-1", "ds-1", "agent-1", "lease-1", dataset.Mapping, 3)
	mapping.Warnings = []store.Warning{open}
	d := f.report(mapping)
	eq(f, "warnings after the Mapping report", fmt.Sprint(d.Warnings), fmt.Sprint([]store.Warning{open}))
	mapping.Now = at(4)
	f.report(mapping)
	f.report(coordReport("co-1", "ds-1", dataset.Validating, 5))
	eq(f, "stored warnings after a resent report and Validating", fmt.Sprint(f.dataset("co-1", "ds-1").Warnings),
		fmt.Sprint([]store.Warning{open}))

	f.queue("co-1", "conn-1", "ds-2", dataset.Suppliers, 6)
	f.claim("ds-2", "agent-1", "lease-2", 7)
	many := agentReport("co-1", "ds-2", "agent-1", "lease-2", dataset.Mapping, 8)
	for i := range store.MaxWarnings + 1 {
		many.Warnings = append(many.Warnings, store.Warning{RuleID: "r", Message: fmt.Sprint("warning ", i)})
	}
	_, err := f.s.Report(f.ctx, many)
	if err == nil {
		f.Errorf("a report with %d warnings was accepted", len(many.Warnings))
	}
	many.Warnings = many.Warnings[:store.MaxWarnings]
	eq(f, "warnings kept", len(f.report(many).Warnings), store.MaxWarnings)
}

func testRenewLeases(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-1")
	f.connection("co-1", "conn-3", store.Linked, "agent-2")
	for _, q := range []struct{ id, conn, agent string }{
		{"ds-a", "conn-1", "agent-1"}, {"ds-b", "conn-2", "agent-1"}, {"ds-c", "conn-3", "agent-2"},
	} {
		f.queue("co-1", q.conn, q.id, dataset.Customers, 0)
		f.claim(q.id, q.agent, "lease-"+q.id, 0)
	}
	f.queue("co-1", "conn-1", "ds-v", dataset.Suppliers, 0)
	f.claim("ds-v", "agent-1", "lease-v", 0)
	f.report(agentReport("co-1", "ds-v", "agent-1", "lease-v", dataset.Mapping, 1))
	f.report(coordReport("co-1", "ds-v", dataset.Validating, 2))

	held, err := f.s.RenewLeases(f.ctx, "agent-1", at(100))
	noErr(f, "RenewLeases", err)
	got := ids(held)
	slices.Sort(got)
	eq(f, "datasets agent-1 holds", fmt.Sprint(got), "[ds-a ds-b]")
	for _, d := range held {
		eqTime(f, d.ID+" returned lease expiry", d.LeaseExpires, at(100))
		eqTime(f, d.ID+" stored lease expiry", f.dataset("co-1", d.ID).LeaseExpires, at(100))
	}
	eqTime(f, "another agent's lease", f.dataset("co-1", "ds-c").LeaseExpires, at(0).Add(ttl))

	moved, err := f.s.ExpireLeases(f.ctx, at(0).Add(ttl))
	noErr(f, "ExpireLeases", err)
	eqIDs(f, "expired beside renewed leases", moved, "ds-c")
	f.report(agentReport("co-1", "ds-a", "agent-1", "lease-ds-a", dataset.Mapping, 70))

	held, err = f.s.RenewLeases(f.ctx, "agent-none", at(100))
	noErr(f, "RenewLeases(agent without leases)", err)
	eq(f, "datasets of an agent without leases", len(held), 0)
}

// testExpireAfterQuietPasses: passes that find nothing due do not hide
// a lease claimed after them, one due before the lease they found, nor
// the one they found once it falls due (a store may skip the passes
// that nothing since can have made due).
func testExpireAfterQuietPasses(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	expire := func(what string, sec int, want ...string) {
		f.Helper()
		moved, err := f.s.ExpireLeases(f.ctx, at(sec))
		noErr(f, "ExpireLeases "+what, err)
		eqIDs(f, what, moved, want...)
	}
	expire("nothing held", 0)
	expire("nothing held again", 1)
	f.queue("co-1", "conn-1", "ds-a", dataset.Customers, 0)
	f.claim("ds-a", "agent-1", "lease-a", 40) // due at 100
	expire("before it is due", 41)
	expire("before it is due again", 42)
	f.queue("co-1", "conn-1", "ds-b", dataset.Suppliers, 0)
	f.claim("ds-b", "agent-1", "lease-b", 20) // due at 80, before ds-a
	expire("before either is due", 79)
	expire("the later claim, due first", 80, "ds-b")
	expire("the first not yet due", 99)
	expire("the first, due", 100, "ds-a")
	expire("nothing held at the end", 101)
}

func testExpireLeases(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-f", dataset.Customers, 0)
	f.claim("ds-f", "agent-1", "lease-f", 0)
	f.queue("co-1", "conn-1", "ds-m", dataset.Suppliers, 0)
	f.claim("ds-m", "agent-1", "lease-m", 0)
	f.report(agentReport("co-1", "ds-m", "agent-1", "lease-m", dataset.Mapping, 5))
	f.queue("co-1", "conn-1", "ds-later", dataset.Invoices, 0)
	f.claim("ds-later", "agent-1", "lease-later", 10)

	moved, err := f.s.ExpireLeases(f.ctx, at(59))
	noErr(f, "ExpireLeases before expiry", err)
	eq(f, "expired before expiry", len(moved), 0)

	moved, err = f.s.ExpireLeases(f.ctx, at(60))
	noErr(f, "ExpireLeases", err)
	got := ids(moved)
	slices.Sort(got)
	eq(f, "expired at the expiry time", fmt.Sprint(got), "[ds-f ds-m]")
	for _, d := range moved {
		for _, d := range []store.Dataset{d, f.dataset("co-1", d.ID)} {
			eq(f, d.ID+" status", d.Status, dataset.Queued)
			eq(f, d.ID+" attempt", d.Attempt, 2)
			eq(f, d.ID+" progress", d.Progress, 0)
			eq(f, d.ID+" lease", d.LeaseID, "")
			eq(f, d.ID+" lease agent", d.LeaseAgent, "")
			eq(f, d.ID+" completed", d.Completed.IsZero(), true)
			last := d.Timeline[len(d.Timeline)-1]
			from := d.Timeline[len(d.Timeline)-2].To
			checkTimeline(f, store.Dataset{ID: d.ID, Timeline: []store.Transition{last}}, store.Transition{
				At: at(60), From: from, To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 2,
			})
		}
	}
	eq(f, "lease not yet expired", f.dataset("co-1", "ds-later").Status, dataset.Fetching)
	q, _, err := f.s.QueuedDatasets(f.ctx, "conn-1")
	noErr(f, "QueuedDatasets", err)
	eq(f, "queued again", len(q), 2)

	_, err = f.s.Report(f.ctx, agentReport("co-1", "ds-f", "agent-1", "lease-f", dataset.Mapping, 61))
	wantErr(f, "report under an expired lease", err, store.ErrStaleLease)
	d := f.claim("ds-f", "agent-1", "lease-f2", 62)
	eq(f, "attempt of the new claim", d.Attempt, 2)
	eq(f, "timeline attempt of the new claim", d.Timeline[len(d.Timeline)-1].Attempt, 2)
	moved, err = f.s.ExpireLeases(f.ctx, at(60))
	noErr(f, "ExpireLeases again", err)
	eq(f, "expired twice", len(moved), 0)
}

func testExpireAttempts(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 0)
	want := []store.Transition{queuedEntry(0)}
	for attempt := 1; attempt <= store.MaxAttempts; attempt++ {
		sec := attempt * 100
		f.claim("ds-1", "agent-1", fmt.Sprintf("lease-%d", attempt), sec)
		moved, err := f.s.ExpireLeases(f.ctx, at(sec).Add(ttl))
		noErr(f, "ExpireLeases", err)
		eqIDs(f, fmt.Sprintf("expired on attempt %d", attempt), moved, "ds-1")
		want = append(want, store.Transition{At: at(sec), From: dataset.Queued, To: dataset.Fetching, Actor: "agent-1", Attempt: attempt})
		expired := at(sec).Add(ttl)
		if attempt < store.MaxAttempts {
			want = append(want, store.Transition{At: expired, From: dataset.Fetching, To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: attempt + 1})
		} else {
			want = append(want, store.Transition{At: expired, From: dataset.Fetching, To: dataset.FetchError, Actor: store.ActorCoordinator, Attempt: attempt, Message: store.MsgAgentOffline})
		}
	}
	d := f.dataset("co-1", "ds-1")
	eq(f, "status after the last attempt", d.Status, dataset.FetchError)
	eq(f, "error message", d.ErrorMessage, "connector went offline during the sync")
	eq(f, "attempt", d.Attempt, store.MaxAttempts)
	eqTime(f, "completed", d.Completed, at(store.MaxAttempts*100).Add(ttl))
	checkTimeline(f, d, want...)
	f.queue("co-1", "conn-1", "ds-2", dataset.Customers, 1000)
}

// testWithdrawnConnection checks UpdateConnection to Unlinked and to
// Deauthorized: queued work ends, leases are revoked, and ExpireLeases ends
// the in-flight datasets.
func testWithdrawnConnection(f *fixture) {
	for i, status := range []store.ConnectionStatus{store.Unlinked, store.Deauthorized} {
		co, conn := fmt.Sprintf("co-%d", i), fmt.Sprintf("conn-%d", i)
		id := func(s string) string { return fmt.Sprintf("%s-%d", s, i) }
		f.linked(co, conn, "agent-1")
		f.queue(co, conn, id("ds-q"), dataset.Customers, 1)
		f.queue(co, conn, id("ds-f"), dataset.Suppliers, 1)
		f.claim(id("ds-f"), "agent-1", id("lease-f"), 2)
		f.queue(co, conn, id("ds-m"), dataset.Invoices, 1)
		f.claim(id("ds-m"), "agent-1", id("lease-m"), 2)
		f.report(agentReport(co, id("ds-m"), "agent-1", id("lease-m"), dataset.Mapping, 3))
		f.queue(co, conn, id("ds-v"), dataset.Bills, 1)
		f.claim(id("ds-v"), "agent-1", id("lease-v"), 2)
		f.report(agentReport(co, id("ds-v"), "agent-1", id("lease-v"), dataset.Mapping, 3))
		f.report(coordReport(co, id("ds-v"), dataset.Validating, 4))

		_, err := f.s.UpdateConnection(f.ctx, co, conn, func(c *store.Connection) error {
			c.Status = status
			return nil
		})
		noErr(f, "UpdateConnection to "+string(status), err)
		name := string(status) + ": "

		d := f.dataset(co, id("ds-q"))
		eq(f, name+"queued dataset status", d.Status, dataset.AuthError)
		checkTimeline(f, d, queuedEntry(1), store.Transition{
			From: dataset.Queued, To: dataset.AuthError, Actor: store.ActorCoordinator, Attempt: 1,
		})
		_, err = f.s.Report(f.ctx, agentReport(co, id("ds-f"), "agent-1", id("lease-f"), dataset.Mapping, 5))
		wantErr(f, name+"report under a revoked lease", err, store.ErrStaleLease)
		held, err := f.s.RenewLeases(f.ctx, "agent-1", at(100))
		noErr(f, name+"RenewLeases", err)
		eqIDs(f, name+"leases left after the withdrawal", held)

		// Revoked leases have expired for any time, even before their term.
		moved, err := f.s.ExpireLeases(f.ctx, at(6))
		noErr(f, name+"ExpireLeases", err)
		got := ids(moved)
		slices.Sort(got)
		eq(f, name+"expired", fmt.Sprint(got), fmt.Sprint([]string{id("ds-f"), id("ds-m")}))
		for _, d := range moved {
			eq(f, name+d.ID+" status", d.Status, dataset.AuthError)
			n := len(d.Timeline)
			checkTimeline(f, store.Dataset{ID: d.ID, Timeline: d.Timeline[n-2:]},
				store.Transition{At: at(6), From: d.Timeline[n-3].To, To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 2},
				store.Transition{At: at(6), From: dataset.Queued, To: dataset.AuthError, Actor: store.ActorCoordinator, Attempt: 2},
			)
		}
		// Past the agent: it finishes.
		eq(f, name+"validating dataset", f.dataset(co, id("ds-v")).Status, dataset.Validating)
		f.report(coordReport(co, id("ds-v"), dataset.Processing, 7))
		f.report(coordReport(co, id("ds-v"), dataset.Complete, 8))

		_, err = f.s.QueueDataset(f.ctx, store.QueueRequest{ID: id("ds-new"), CompanyID: co, ConnectionID: conn, DataType: dataset.Customers, Now: at(9)})
		if status == store.Unlinked {
			wantErr(f, name+"queue", err, store.ErrUnlinked)
		} else {
			noErr(f, name+"queue", err)
			eq(f, name+"queued status", f.dataset(co, id("ds-new")).Status, dataset.AuthError)
		}
	}
}

func testRevokeLease(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.connection("co-1", "conn-2", store.Linked, "agent-2")
	f.queue("co-1", "conn-1", "ds-a", dataset.Customers, 0)
	f.claim("ds-a", "agent-1", "lease-a", 0)
	f.queue("co-1", "conn-2", "ds-b", dataset.Customers, 0)
	f.claim("ds-b", "agent-2", "lease-b", 0)

	noErr(f, "RevokeLease of another agent's lease", f.s.RevokeLease(f.ctx, "agent-1", "co-1", "ds-b"))
	eq(f, "another agent's lease", f.dataset("co-1", "ds-b").LeaseID, "lease-b")
	noErr(f, "RevokeLease", f.s.RevokeLease(f.ctx, "agent-1", "co-1", "ds-a"))
	noErr(f, "RevokeLease again", f.s.RevokeLease(f.ctx, "agent-1", "co-1", "ds-a"))
	wantErr(f, "RevokeLease of a missing dataset", f.s.RevokeLease(f.ctx, "agent-1", "co-1", "ds-none"), store.ErrNotFound)

	held, err := f.s.RenewLeases(f.ctx, "agent-1", at(100))
	noErr(f, "RenewLeases", err)
	eq(f, "leases held after the revocation", len(held), 0)
	_, err = f.s.Report(f.ctx, agentReport("co-1", "ds-a", "agent-1", "lease-a", dataset.Mapping, 1))
	wantErr(f, "report under a revoked lease", err, store.ErrStaleLease)
	moved, err := f.s.ExpireLeases(f.ctx, at(1))
	noErr(f, "ExpireLeases", err)
	eqIDs(f, "expired at once", moved, "ds-a")
	d := f.dataset("co-1", "ds-a")
	eq(f, "status", d.Status, dataset.Queued)
	eq(f, "attempt", d.Attempt, 2)
}

// testClaimHeld: a claim of a dataset whose connection is paused, or
// outside the sync window in force, at the claim's time is refused with
// ErrNotQueued and changes nothing, read in the claim's own transaction
// (an offer made before the pause or before the window closed does not
// start the work); once resumed and inside the window it is claimed.
func testClaimHeld(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Customers, 1)
	pause := func(since time.Time) {
		_, err := f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
			c.PausedSince = since
			return nil
		})
		noErr(f, "UpdateConnection", err)
	}
	claim := func(sec int) error {
		_, err := f.s.Claim(f.ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", LeaseID: "lease-1", Now: at(sec), TTL: ttl})
		return err
	}
	pause(at(2))
	wantErr(f, "Claim of a paused connection's dataset", claim(3), store.ErrNotQueued)
	eq(f, "status after the refused claim", f.dataset("co-1", "ds-1").Status, dataset.Queued)
	pause(time.Time{})
	// t0 is a Saturday: a window on Sundays alone is closed.
	sundays := &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Sun"}, Start: "00:00", End: "00:00"}}}
	noErr(f, "SetProfileSyncWindow", f.s.SetProfileSyncWindow(f.ctx, sundays))
	wantErr(f, "Claim outside the client's window", claim(4), store.ErrNotQueued)
	noErr(f, "SetProfileSyncWindow", f.s.SetProfileSyncWindow(f.ctx, nil))
	noErr(f, "Claim once resumed, with no window", claim(5))
	eq(f, "status after the claim", f.dataset("co-1", "ds-1").Status, dataset.Fetching)
}
