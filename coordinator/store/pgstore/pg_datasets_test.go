package pgstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// The dataset half of the store across replicas: the rules that must hold
// atomically hold between processes sharing one database, which the
// conformance suite, on one PG, cannot show.

// twoReplicas opens two PGs on one new database (its URL is url), as two
// coordinator processes would, with company co and its connection co-conn
// linked to co-agent.
func twoReplicas(t *testing.T, co string) (ps []*pgstore.PG, url string) {
	t.Helper()
	url = pgtest.NewDatabase(t)
	ps = []*pgstore.PG{open(t, url), open(t, url)}
	if err := ps[0].CreateCompany(t.Context(), store.Company{ID: co, Name: co, Created: time.Unix(0, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	c := store.Connection{ID: co + "-conn", CompanyID: co, PlatformKey: "gnucash", Status: store.Linked,
		AgentID: co + "-agent", Created: time.Unix(0, 0).UTC()}
	code := store.LinkCode{Hash: []byte("code-" + co), Expires: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := ps[1].CreateConnection(t.Context(), c, code); err != nil {
		t.Fatal(err)
	}
	return ps, url
}

// together runs fn(i) for i in [0, n) from n goroutines released at once.
func together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// TestReplicasQueueAndClaimOnce: queue calls for one type and claims of
// one dataset, spread over two replicas, each have exactly one winner.
func TestReplicasQueueAndClaimOnce(t *testing.T) {
	ps, _ := twoReplicas(t, "co")
	ctx := t.Context()
	const n = 16
	errs := make([]error, n)
	together(n, func(i int) {
		_, errs[i] = ps[i%2].QueueDataset(ctx, store.QueueRequest{ID: fmt.Sprint("ds-", i), CompanyID: "co",
			ConnectionID: "co-conn", DataType: dataset.Invoices, Now: time.Unix(int64(i), 0)})
	})
	winner := ""
	for i, err := range errs {
		var busy *store.InProgressError
		switch {
		case err == nil && winner == "":
			winner = fmt.Sprint("ds-", i)
		case err == nil:
			t.Errorf("two queue calls won: %s and ds-%d", winner, i)
		case !errors.As(err, &busy):
			t.Errorf("losing queue call: got %v, want *InProgressError", err)
		}
	}
	if winner == "" {
		t.Fatal("no queue call won")
	}

	leases := make([]string, n)
	together(n, func(i int) {
		_, errs[i] = ps[i%2].Claim(ctx, store.ClaimRequest{DatasetID: winner, AgentID: "co-agent",
			LeaseID: fmt.Sprint("lease-", i), Now: time.Unix(100, 0), TTL: time.Minute})
		if errs[i] == nil {
			leases[i] = fmt.Sprint("lease-", i)
		}
	})
	var won []string
	for i, err := range errs {
		switch {
		case err == nil:
			won = append(won, leases[i])
		case !errors.Is(err, store.ErrNotQueued):
			t.Errorf("losing claim: got %v, want ErrNotQueued", err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("claims won: %v, want one", won)
	}
	d, err := ps[1].Dataset(ctx, "co", winner)
	if err != nil || d.LeaseID != won[0] || len(d.Timeline) != 2 {
		t.Errorf("claimed dataset: lease %q, %d timeline entries (%v); want %s and 2", d.LeaseID, len(d.Timeline), err, won[0])
	}
}

// publishable takes dataset id of co through an upload of pages to
// Processing on p.
func publishable(t *testing.T, p *pgstore.PG, co, id string, pages ...store.Page) {
	t.Helper()
	if err := toProcessing(p, co, id, time.Unix(10, 0), pages); err != nil {
		t.Fatal(err)
	}
}

// linesPage is page n of records "{"id":id,"v":v}" with the line index the
// upload gives.
func linesPage(n int, v string, ids ...string) store.Page {
	var (
		data  strings.Builder
		lines []store.Line
	)
	for _, id := range ids {
		start := data.Len()
		fmt.Fprintf(&data, `{"id":%q,"v":%q}`, id, v)
		lines = append(lines, store.Line{ID: id, Start: start, End: data.Len()})
		data.WriteByte('\n')
	}
	return store.Page{N: n, Records: len(ids), Data: []byte(data.String()), Lines: lines}
}

// cached is the snapshot of (co, customers) as "id=record" lines.
func cached(t *testing.T, p *pgstore.PG, co string) string {
	t.Helper()
	var b strings.Builder
	err := p.CachedRecords(t.Context(), co, string(dataset.Customers), func(id string, rec []byte) error {
		fmt.Fprintf(&b, "%s=%s\n", id, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReplicasPublishOnce: two replicas publishing one dataset at once
// both succeed, and it completes once, with one whole snapshot.
func TestReplicasPublishOnce(t *testing.T) {
	ps, url := twoReplicas(t, "co")
	ctx := t.Context()
	var ids []string
	for i := range 3000 {
		ids = append(ids, fmt.Sprintf("r%05d", i))
	}
	publishable(t, ps[0], "co", "ds-1", linesPage(1, "a", ids[:1500]...), linesPage(2, "a", ids[1500:]...))
	errs := make([]error, 2)
	out := make([]store.Dataset, 2)
	together(2, func(i int) { out[i], errs[i] = ps[i].PublishCache(ctx, "co", "ds-1", time.Unix(20, 0)) })
	for i := range 2 {
		if errs[i] != nil || out[i].Status != dataset.Complete {
			t.Errorf("PublishCache on replica %d: %s, %v; want Complete", i, out[i].Status, errs[i])
		}
	}
	d, err := ps[1].Dataset(ctx, "co", "ds-1")
	if err != nil {
		t.Fatal(err)
	}
	completes := 0
	for _, tr := range d.Timeline {
		if tr.To == dataset.Complete {
			completes++
		}
	}
	if completes != 1 {
		t.Errorf("timeline %+v: %d Complete entries, want 1", d.Timeline, completes)
	}
	got := cached(t, ps[1], "co")
	if n := strings.Count(got, "\n"); n != len(ids) {
		t.Errorf("cached records: %d, want %d", n, len(ids))
	}
	var snapshots, rows int
	conn := connect(t, url)
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM cache_snapshots), (SELECT count(*) FROM records)").Scan(&snapshots, &rows); err != nil {
		t.Fatal(err)
	}
	if snapshots != 1 || rows != len(ids) {
		t.Errorf("stored: %d snapshots of %d rows, want 1 of %d", snapshots, rows, len(ids))
	}
}

// TestPublishCacheLineIndex: PublishCache takes the records of pages
// staged with the upload's line index (which the conformance suite's
// pages have not), a later line of an id winning, within a page and
// across pages; CachedRecord finds none for ids no record can have.
func TestPublishCacheLineIndex(t *testing.T) {
	ps, _ := twoReplicas(t, "co")
	p, ctx := ps[0], t.Context()
	publishable(t, p, "co", "ds-1", linesPage(1, "first", "b", "a", "b"), linesPage(2, "second", "c", "a"))
	if _, err := p.PublishCache(ctx, "co", "ds-1", time.Unix(20, 0)); err != nil {
		t.Fatal(err)
	}
	want := `a={"id":"a","v":"second"}
b={"id":"b","v":"first"}
c={"id":"c","v":"second"}
`
	if got := cached(t, p, "co"); got != want {
		t.Errorf("cached records:\n%s\nwant\n%s", got, want)
	}
	rec, err := p.CachedRecord(ctx, "co", string(dataset.Customers), "a")
	if err != nil || string(rec) != `{"id":"a","v":"second"}` {
		t.Errorf("CachedRecord(a): %s, %v", rec, err)
	}
	for _, id := range []string{"a\x00", "\xff"} {
		if _, err := p.CachedRecord(ctx, "co", string(dataset.Customers), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CachedRecord(%q): got %v, want ErrNotFound", id, err)
		}
	}
}

// TestDeleteCompanyLeavesNoRows: deleting a company deletes every row of
// its datasets in every table, cached records included (which no foreign
// key reaches: a trigger does), and the counts follow.
func TestDeleteCompanyLeavesNoRows(t *testing.T) {
	ps, url := twoReplicas(t, "co")
	p, ctx := ps[0], t.Context()
	publishable(t, p, "co", "ds-1", linesPage(1, "x", "a", "b"))
	if _, err := p.PublishCache(ctx, "co", "ds-1", time.Unix(20, 0)); err != nil {
		t.Fatal(err)
	}
	publishable(t, p, "co", "ds-2", linesPage(1, "y", "c"))
	if err := p.SetValidation(ctx, "co", "ds-2", store.ValidationResult{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.QueueDataset(ctx, store.QueueRequest{ID: "ds-3", CompanyID: "co", ConnectionID: "co-conn",
		DataType: dataset.Invoices, Now: time.Unix(30, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteCompany(ctx, "co"); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	for _, table := range []string{"datasets", "dataset_active", "dataset_queue", "dataset_leases",
		"dataset_unprocessed", "dataset_complete", "validations", "pages", "ended_pages",
		"cache_snapshots", "cache_current", "records"} {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows left after DeleteCompany", table, n)
		}
	}
	counts, err := p.DatasetCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range counts {
		if n != 0 {
			t.Errorf("count of %s after DeleteCompany: %d", s, n)
		}
	}
}

// TestDatasetTextKeptWhole: a dataset's message and its validation's
// messages are kept as given, NUL included, which a jsonb column refuses.
func TestDatasetTextKeptWhole(t *testing.T) {
	ps, _ := twoReplicas(t, "co")
	p, ctx := ps[0], t.Context()
	if _, err := p.QueueDataset(ctx, store.QueueRequest{ID: "ds-1", CompanyID: "co", ConnectionID: "co-conn",
		DataType: dataset.Bills, Now: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	const msg = "book \x00 unreadable"
	if _, err := p.Report(ctx, store.Report{CompanyID: "co", DatasetID: "ds-1", Actor: store.ActorCoordinator,
		To: dataset.InternalError, Now: time.Unix(2, 0), Message: msg}); err != nil {
		t.Fatal(err)
	}
	item := store.ValidationItem{RuleID: "r", ItemID: "i", Message: msg, ValidatorName: "v"}
	if err := p.SetValidation(ctx, "co", "ds-1", store.ValidationResult{Errors: []store.ValidationItem{item}}); err != nil {
		t.Fatal(err)
	}
	d, err := ps[1].Dataset(ctx, "co", "ds-1")
	if err != nil || d.ErrorMessage != msg {
		t.Errorf("error message: %q (%v), want %q", d.ErrorMessage, err, msg)
	}
	v, err := ps[1].Validation(ctx, "co", "ds-1")
	if err != nil || len(v.Errors) != 1 || v.Errors[0] != item {
		t.Errorf("validation: %+v (%v), want %+v", v, err, item)
	}
}

// TestPublishCacheCompanyDeleted: a publish that a deletion of its company
// overtakes is ErrNotFound and leaves no record behind.
func TestPublishCacheCompanyDeleted(t *testing.T) {
	ps, url := twoReplicas(t, "co")
	p, ctx := ps[0], t.Context()
	publishable(t, p, "co", "ds-1", linesPage(1, "x", "a", "b"))
	conn := connect(t, url)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, "DELETE FROM companies WHERE id = 'co'"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.PublishCache(ctx, "co", "ds-1", time.Unix(20, 0))
		done <- err
	}()
	// The publish's snapshot waits for the company row the deletion holds.
	watch := connect(t, url)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var waiting bool
		err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO cache_snapshots%')`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the publish never waited for the company")
		}
		select {
		case err := <-done:
			t.Fatalf("PublishCache returned before the deletion committed: %v", err)
		case <-time.After(10 * time.Millisecond): // poll the condition
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PublishCache: got %v, want ErrNotFound", err)
	}
	var rows int
	if err := watch.QueryRow(ctx, "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM cache_snapshots)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d rows of records and snapshots left", rows)
	}
}

// TestSweepIsBounded: a finish sweeps the pages of at most
// store.EndedPagesPerSweep ended datasets before it answers, the rest
// wait for the next (as on Badger).
func TestSweepIsBounded(t *testing.T) {
	ps, url := twoReplicas(t, "co")
	p, ctx := ps[0], t.Context()
	at := func(s int) time.Time { return time.Unix(int64(s), 0).UTC() }
	run := func(id, lease string) {
		t.Helper()
		if _, err := p.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: "co", ConnectionID: "co-conn", DataType: dataset.Customers, Now: at(1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Claim(ctx, store.ClaimRequest{DatasetID: id, AgentID: "co-agent", LeaseID: lease, Now: at(2), TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	ended := store.EndedPagesPerSweep + 10
	for i := range ended {
		id, lease := fmt.Sprintf("ended-%03d", i), fmt.Sprintf("lease-%03d", i)
		run(id, lease)
		if _, err := p.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, LeaseID: lease, Actor: "co-agent", To: dataset.Mapping, Now: at(3)}); err != nil {
			t.Fatal(err)
		}
		if err := p.PutPage(ctx, store.Page{AgentID: "co-agent", DatasetID: id, LeaseID: lease, N: 1, Records: 1, Data: []byte(`{"id":"a"}` + "\n")}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Report(ctx, store.Report{CompanyID: "co", DatasetID: id, LeaseID: lease, Actor: "co-agent", To: dataset.MapError, Now: at(4)}); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, url)
	count := func(table string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("ended_pages"); n != ended {
		t.Fatalf("%d ended datasets marked, want %d", n, ended)
	}
	finish := func(id, lease string) {
		t.Helper()
		run(id, lease)
		page := store.Page{AgentID: "co-agent", DatasetID: id, LeaseID: lease, N: 1, Records: 1,
			Data: []byte(`{"id":"C1","customerName":"C","status":"Active"}` + "\n"), Lines: []store.Line{{ID: "C1", Start: 0, End: 49}}}
		if _, err := p.FinishUpload(ctx, store.Finish{CompanyID: "co", DatasetID: id, Validated: at(5), Now: at(5),
			AgentID: "co-agent", LeaseID: lease, Committed: at(5), Mapped: at(5), Page: &page}); err != nil {
			t.Fatal(err)
		}
	}
	finish("small-1", "lease-s1")
	if n := count("ended_pages"); n != ended-store.EndedPagesPerSweep {
		t.Errorf("after one finish: %d marks left, want %d", n, ended-store.EndedPagesPerSweep)
	}
	finish("small-2", "lease-s2")
	if n := count("ended_pages"); n != 0 {
		t.Errorf("after two finishes: %d marks left", n)
	}
	if n := count("pages"); n != 0 {
		t.Errorf("after two finishes: %d pages left", n)
	}
}
