package badgerstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestClaimOneTransaction: a first attempt's claim is one transaction.
// Each transaction Badger begins waits for the commits in flight to be
// synced, and the agent's claimed answer waits for the claim, so with
// datasets moving on other connections each extra one costs the claim a
// sync. A later attempt's claim also deletes the pages its lost lease
// staged. It fails if the first claim goes back to looking for earlier
// pages (a write batch and a view after the claim's commit).
func TestClaimOneTransaction(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	linked(t, s)
	_, err := s.QueueDataset(ctx, store.QueueRequest{ID: "ds", CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: sec(1)})
	must(t, "QueueDataset", err)
	claim := func(lease string, at time.Time) int64 {
		before := s.Transactions()
		_, err := s.Claim(ctx, store.ClaimRequest{DatasetID: "ds", AgentID: "agent-1", LeaseID: lease, Now: at, TTL: time.Minute})
		must(t, "Claim "+lease, err)
		return s.Transactions() - before
	}
	if n := claim("lease-1", sec(2)); n != 1 {
		t.Errorf("first attempt's claim: %d transactions, want 1", n)
	}
	_, err = s.Report(ctx, store.Report{CompanyID: "co", DatasetID: "ds", LeaseID: "lease-1", Actor: "agent-1", To: dataset.Mapping, Now: sec(3)})
	must(t, "Report Mapping", err)
	must(t, "PutPage", s.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: "ds", LeaseID: "lease-1", N: 1, Records: 1,
		Data: []byte(`{"id":"C1","customerName":"C","status":"Active"}` + "\n"), Lines: []store.Line{{ID: "C1", Start: 0, End: 49}}}))
	_, err = s.ExpireLeases(ctx, sec(2).Add(time.Minute))
	must(t, "ExpireLeases", err)
	if n := claim("lease-2", sec(100)); n < 2 {
		t.Errorf("second attempt's claim: %d transactions, want the claim and the deletion of the first lease's pages", n)
	}
	if keys := keysMentioning(t, s, "lease-1"); len(keys) != 0 {
		t.Errorf("pages of the lost lease left after the second claim: %q", keys)
	}
}

// TestQueueOneTransaction: a queue that picks the connection, reads the
// sync order from the settings and returns the gate is one transaction:
// each other would wait again for the commits in flight to be synced.
func TestQueueOneTransaction(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	linked(t, s)
	before := s.Transactions()
	q, err := s.QueueDataset(ctx, store.QueueRequest{ID: "ds", CompanyID: "co", DataType: dataset.Customers, OrderBySettings: true, Now: sec(1)})
	must(t, "QueueDataset", err)
	if n := s.Transactions() - before; n != 1 {
		t.Errorf("queue: %d transactions, want 1", n)
	}
	if q.ConnectionID != "conn" || q.Gate.ConnectionID != "conn" {
		t.Errorf("queued on %q with the gate of %q, want conn's", q.ConnectionID, q.Gate.ConnectionID)
	}
}

// linked is company co with connection conn, linked to agent-1.
func linked(t *testing.T, s store.Backend) {
	ctx := t.Context()
	must(t, "CreateCompany", s.CreateCompany(ctx, store.Company{ID: "co", Created: sec(0)}))
	must(t, "CreateConnection", s.CreateConnection(ctx,
		store.Connection{ID: "conn", CompanyID: "co", Status: store.Linked, AgentID: "agent-1", Created: sec(0)},
		store.LinkCode{Hash: []byte("hash"), CompanyID: "co", ConnectionID: "conn", Expires: sec(1000)}))
}

// TestFinishDecodesEachDocumentOnce: FinishUpload of a small dataset's
// last page decodes the company, the dataset and the connection once
// each, though the lease's check, each step's webhook events and the
// connection's last sync each read the connection again. JSON decoding
// was a fifth of the coordinator's CPU a small dataset.
func TestFinishDecodesEachDocumentOnce(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	linked(t, s)
	_, err := s.QueueDataset(ctx, store.QueueRequest{ID: "ds", CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: sec(1)})
	must(t, "QueueDataset", err)
	_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: "ds", AgentID: "agent-1", LeaseID: "lease-1", Now: sec(2), TTL: time.Minute})
	must(t, "Claim", err)
	page := store.Page{AgentID: "agent-1", DatasetID: "ds", LeaseID: "lease-1", N: 1, Records: 1,
		Data: []byte(`{"id":"C1","customerName":"C","status":"Active"}` + "\n"), Lines: []store.Line{{ID: "C1", Start: 0, End: 49}}}
	before := s.Decodes()
	d, err := s.FinishUpload(ctx, store.Finish{CompanyID: "co", DatasetID: "ds", Validated: sec(3), Now: sec(3),
		AgentID: "agent-1", LeaseID: "lease-1", Committed: sec(3), Mapped: sec(3), Page: &page})
	must(t, "FinishUpload", err)
	if d.Status != dataset.Complete {
		t.Fatalf("dataset %s, want Complete", d.Status)
	}
	if n := s.Decodes() - before; n != 3 {
		t.Errorf("FinishUpload decoded %d documents, want 3 (the company, the dataset, the connection)", n)
	}
	c, err := s.Connection(ctx, "co", "conn")
	must(t, "Connection", err)
	if !c.LastSync.Equal(sec(3)) {
		t.Errorf("connection's last sync %v, want %v (written by the transaction that had read it)", c.LastSync, sec(3))
	}
}

// TestQueuedConnectionsReadsAfterAMove: QueuedConnections walks the
// queued index (a transaction) only when a dataset or a connection moved
// since its last walk: the hub's sweep asks every few seconds, and each
// walk steps over the deleted entries of the datasets dequeued before.
func TestQueuedConnectionsReadsAfterAMove(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	linked(t, s)
	queued := func(what string, walks int64, want ...string) {
		t.Helper()
		before := s.Transactions()
		got, err := s.QueuedConnections(ctx)
		must(t, "QueuedConnections "+what, err)
		if n := s.Transactions() - before; n != walks || !slices.Equal(got, want) {
			t.Errorf("%s: %v in %d transactions, want %v in %d", what, got, n, want, walks)
		}
	}
	for i := range 50 { // history: 50 datasets queued and ended
		id := fmt.Sprintf("ds-%02d", i)
		_, err := s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: sec(i)})
		must(t, "QueueDataset", err)
		_, err = s.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, Actor: store.ActorCoordinator, To: dataset.NotSupported, Now: sec(i)})
		must(t, "Report", err)
	}
	queued("the first", 1)
	queued("nothing moved", 0)
	_, _, err := s.AcquireLease(ctx, "leader", "replica-a", sec(100), time.Minute)
	must(t, "AcquireLease", err)
	queued("after a write that moves no dataset", 0)
	_, err = s.QueueDataset(ctx, store.QueueRequest{ID: "ds-new", CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: sec(100)})
	must(t, "QueueDataset", err)
	queued("after a queue", 1, "conn")
	queued("nothing moved again", 0, "conn")
	_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: "ds-new", AgentID: "agent-1", LeaseID: "lease", Now: sec(101), TTL: time.Minute})
	must(t, "Claim", err)
	queued("after the claim", 1)
	queued("at rest", 0)
}

// TestExpireLeasesReadsAfterALease: ExpireLeases walks the lease index (a
// transaction) only when a lease entered it since its last walk or the
// first lease it found has fallen due: the leader expires leases every
// second, and each walk steps over the deleted entries of the leases
// ended before, so an idle fleet's passes read nothing.
func TestExpireLeasesReadsAfterALease(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	linked(t, s)
	expire := func(what string, at time.Time, txns int64, want ...string) {
		t.Helper()
		before := s.Transactions()
		moved, err := s.ExpireLeases(ctx, at)
		must(t, "ExpireLeases "+what, err)
		var got []string
		for _, d := range moved {
			got = append(got, d.ID)
		}
		if n := s.Transactions() - before; n != txns || !slices.Equal(got, want) {
			t.Errorf("%s: %v moved in %d transactions, want %v in %d", what, got, n, want, txns)
		}
	}
	claim := func(id string, at time.Time) {
		t.Helper()
		_, err := s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: "co", ConnectionID: "conn", DataType: dataset.Customers, Now: at})
		must(t, "QueueDataset", err)
		_, err = s.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: "agent-1", LeaseID: "lease-" + id, Now: at, TTL: time.Minute})
		must(t, "Claim", err)
	}
	for i := range 20 { // history: 20 leases held and ended
		id := fmt.Sprintf("ds-%02d", i)
		claim(id, sec(i))
		_, err := s.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, LeaseID: "lease-" + id, Actor: "agent-1", To: dataset.FetchError, Message: "gone", Now: sec(i)})
		must(t, "Report", err)
	}
	expire("the first", sec(30), 1)
	expire("nothing held", sec(31), 0)
	expire("a day on", sec(86400), 0)
	_, _, err := s.AcquireLease(ctx, "leader", "replica-a", sec(100), time.Minute)
	must(t, "AcquireLease", err)
	expire("after a write that sets no lease", sec(101), 0)
	claim("ds-held", sec(100000))
	expire("after a claim", sec(100001), 1)
	expire("before it is due", sec(100059), 0)
	// Due: a walk, and the expiry's own transaction.
	expire("when it is due", sec(100060), 2, "ds-held")
	expire("after the expiry", sec(100061), 1)
	expire("at rest", sec(100062), 0)
}

// TestFinishReplacingMarksOnlyStagedPages: a small dataset's FinishUpload
// that replaces a snapshot FinishUpload wrote (whose pages went with it)
// takes as many transactions as one that replaces nothing, and leaves no
// ended-pages mark: a mark for pages already deleted cost each small
// dataset a later synced commit, in dropEndedPages on some upload's
// answer path. A published snapshot keeps its pages staged (its records
// refer to them): the finish that replaces it marks them, and they are
// swept.
func TestFinishReplacingMarksOnlyStagedPages(t *testing.T) {
	s := openTest(t)
	u := newUploader(t, s, "co")
	u.publish("ds-big", dataset.Customers, "a", "b")
	if left := keysUnder(t, s, "pg/co/ds-big/"); len(left) == 0 {
		t.Fatal("a published snapshot's pages are not staged: the test needs them to be")
	}
	finish := func(u uploader, id, lease string) int64 {
		t.Helper()
		before := s.Transactions()
		u.finishSmall(id, lease)
		return s.Transactions() - before
	}
	finish(u, "ds-1", "lease-1")
	if left := keysUnder(t, s, "pg/co/ds-big/"); len(left) > 0 {
		t.Errorf("pages of the published snapshot a finish replaced: %v", left)
	}
	alone := finish(newUploader(t, s, "co-2"), "ds-first", "lease-first")
	replacing := finish(u, "ds-2", "lease-2")
	if replacing != alone {
		t.Errorf("a finish replacing a small snapshot: %d transactions, one replacing nothing: %d; want equal", replacing, alone)
	}
	if left := keysUnder(t, s, "pd/"); len(left) > 0 {
		t.Errorf("ended-pages marks left: %v", left)
	}
}

// TestSweepIsBounded: a finish sweeps the pages of at most
// store.EndedPagesPerSweep ended datasets before it answers, the rest
// wait for the next. A sweep took every mark there was, one synced
// commit each, on the answer path of the upload that happened to take
// it: a backlog held that answer for seconds.
func TestSweepIsBounded(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	u := newUploader(t, s, "co")
	ended := store.EndedPagesPerSweep + 10
	for i := range ended {
		id, lease := fmt.Sprintf("ended-%03d", i), fmt.Sprintf("lease-%03d", i)
		u.mapping(id, dataset.Customers, lease)
		u.put(id, lease, 1, "a")
		_, err := s.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, LeaseID: lease, Actor: "agent-1", To: dataset.MapError, Now: sec(6)})
		must(t, "Report MapError "+id, err)
	}
	if n := len(keysUnder(t, s, "pd/")); n != ended {
		t.Fatalf("%d ended-pages marks, want %d", n, ended)
	}
	u.finishSmall("small-1", "lease-s1")
	if n := len(keysUnder(t, s, "pd/")); n != ended-store.EndedPagesPerSweep {
		t.Errorf("after one finish: %d marks left, want %d", n, ended-store.EndedPagesPerSweep)
	}
	u.finishSmall("small-2", "lease-s2")
	if left := keysUnder(t, s, "pd/"); len(left) > 0 {
		t.Errorf("after two finishes: marks left %v", left)
	}
	if left := keysUnder(t, s, "pg/co/ended-"); len(left) > 0 {
		t.Errorf("after two finishes: pages of ended datasets left %v", left)
	}
}

// finishSmall queues a customers dataset, claims it under lease and
// finishes it with one page of one record in its last-page
// FinishUpload, the dataset Complete after.
func (u uploader) finishSmall(id, lease string) {
	u.t.Helper()
	ctx := u.t.Context()
	_, err := u.s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: u.co, ConnectionID: u.conn, DataType: dataset.Customers, Now: sec(10)})
	must(u.t, "QueueDataset "+id, err)
	u.claim(id, lease)
	page := store.Page{AgentID: "agent-1", DatasetID: id, LeaseID: lease, N: 1, Records: 1,
		Data: []byte(`{"id":"C1","customerName":"C","status":"Active"}` + "\n"), Lines: []store.Line{{ID: "C1", Start: 0, End: 49}}}
	d, err := u.s.FinishUpload(ctx, store.Finish{CompanyID: u.co, DatasetID: id, Validated: sec(11), Now: sec(11),
		AgentID: "agent-1", LeaseID: lease, Committed: sec(11), Mapped: sec(11), Page: &page})
	must(u.t, "FinishUpload "+id, err)
	if d.Status != dataset.Complete {
		u.t.Fatalf("dataset %s %s, want Complete", id, d.Status)
	}
}

// TestSweepLooksOnlyAfterAMark: a finish looks for ended-pages marks (a
// view) only when one may have been set since a sweep last left none: most
// small datasets set none, and the scan steps over every swept mark's
// deleted entry until Badger compacts them. A mark set later, or left by
// an earlier process, is still swept.
func TestSweepLooksOnlyAfterAMark(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	u := newUploader(t, s, "co")
	finish := func(s *badgerstore.Badger, id, lease string) int64 {
		t.Helper()
		before := s.Transactions()
		newUploader(t, s, "co").finishSmall(id, lease)
		return s.Transactions() - before
	}
	looked := finish(s, "ds-1", "lease-1") // a store just opened looks
	if quiet := finish(s, "ds-2", "lease-2"); quiet != looked-1 {
		t.Errorf("a finish with no mark set since the last sweep: %d transactions, the first: %d; want one fewer", quiet, looked)
	}
	// A dataset that ends with staged pages marks them.
	u.mapping("ended", dataset.Customers, "lease-e")
	u.put("ended", "lease-e", 1, "a")
	_, err := s.Report(t.Context(), store.Report{CompanyID: "co", DatasetID: "ended", LeaseID: "lease-e", Actor: "agent-1", To: dataset.MapError, Now: sec(6)})
	must(t, "Report MapError", err)
	finish(s, "ds-3", "lease-3")
	if left := keysUnder(t, s, "pg/co/ended/"); len(left) > 0 {
		t.Errorf("a finish after a mark left the ended dataset's pages: %v", left)
	}
	// A mark an earlier process left is swept by the next one's first finish.
	u.mapping("ended-2", dataset.Customers, "lease-e2")
	u.put("ended-2", "lease-e2", 1, "a")
	_, err = s.Report(t.Context(), store.Report{CompanyID: "co", DatasetID: "ended-2", LeaseID: "lease-e2", Actor: "agent-1", To: dataset.MapError, Now: sec(6)})
	must(t, "Report MapError", err)
	must(t, "Close", s.Close())
	s = openAt(t, dir)
	finish(s, "ds-4", "lease-4")
	if left := keysUnder(t, s, "pd/"); len(left) > 0 {
		t.Errorf("marks left after the reopened store's first finish: %v", left)
	}
}
