package badgerstore_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// keysUnder lists the keys of the database that start with p.
func keysUnder(t testing.TB, b *badgerstore.Badger, p string) []string {
	t.Helper()
	keys, _, err := b.RawKeys()
	must(t, "scan", err)
	var found []string
	for _, k := range keys {
		if bytes.HasPrefix(k, []byte(p)) {
			found = append(found, string(k))
		}
	}
	return found
}

// uploader drives datasets of one linked connection through the agent's
// side: claim, pages, commit.
type uploader struct {
	t        testing.TB
	s        store.Backend
	co, conn string
}

func newUploader(t testing.TB, s store.Backend, co string) uploader {
	t.Helper()
	u := uploader{t: t, s: s, co: co, conn: "conn-" + co}
	if _, err := s.Company(t.Context(), co); err != nil {
		must(t, "CreateCompany", s.CreateCompany(t.Context(), store.Company{ID: co, Created: sec(1)}))
		must(t, "CreateConnection", s.CreateConnection(t.Context(),
			store.Connection{ID: u.conn, CompanyID: co, Status: store.Linked, AgentID: "agent-1", Created: sec(2)},
			store.LinkCode{Hash: []byte("hash-" + co), Expires: sec(1000)}))
	}
	return u
}

// mapping queues dataset id and takes it to Mapping under lease.
func (u uploader) mapping(id string, dt dataset.DataType, lease string) {
	u.t.Helper()
	ctx := u.t.Context()
	_, err := u.s.QueueDataset(ctx, store.QueueRequest{ID: id, CompanyID: u.co, ConnectionID: u.conn, DataType: dt, Now: sec(3)})
	must(u.t, "QueueDataset "+id, err)
	u.claim(id, lease)
	_, err = u.s.Report(ctx, store.Report{CompanyID: u.co, DatasetID: id, LeaseID: lease, Actor: "agent-1", To: dataset.Mapping, Now: sec(5)})
	must(u.t, "Report Mapping "+id, err)
}

func (u uploader) claim(id, lease string) {
	u.t.Helper()
	_, err := u.s.Claim(u.t.Context(), store.ClaimRequest{DatasetID: id, AgentID: "agent-1", LeaseID: lease, Now: sec(4), TTL: time.Minute})
	must(u.t, "Claim "+id, err)
}

// put stages page n with a record per id, each naming the dataset.
func (u uploader) put(id, lease string, n int, ids ...string) {
	u.t.Helper()
	var b strings.Builder
	for _, r := range ids {
		fmt.Fprintf(&b, "{\"id\":%q,\"ds\":%q}\n", r, id)
	}
	p := store.Page{AgentID: "agent-1", DatasetID: id, LeaseID: lease, N: n, Records: len(ids), Data: []byte(b.String())}
	must(u.t, "PutPage", u.s.PutPage(u.t.Context(), p))
}

// processing commits a Mapping dataset and moves it on to Processing.
func (u uploader) processing(id, lease string) {
	u.t.Helper()
	_, err := u.s.CommitUpload(u.t.Context(), "agent-1", id, lease, sec(6))
	must(u.t, "CommitUpload "+id, err)
	u.report(id, dataset.Processing)
}

func (u uploader) report(id string, to dataset.Status) {
	u.t.Helper()
	_, err := u.s.Report(u.t.Context(), store.Report{CompanyID: u.co, DatasetID: id, Actor: store.ActorCoordinator, To: to, Now: sec(7)})
	must(u.t, fmt.Sprintf("Report %s %s", id, to), err)
}

// publish takes a new dataset through an upload of one page to Complete.
func (u uploader) publish(id string, dt dataset.DataType, ids ...string) {
	u.t.Helper()
	u.mapping(id, dt, "lease-"+id)
	u.put(id, "lease-"+id, 1, ids...)
	u.processing(id, "lease-"+id)
	_, err := u.s.PublishCache(u.t.Context(), u.co, id, sec(8))
	must(u.t, "PublishCache "+id, err)
}

// cachedIDs returns the ids of the current snapshot.
// snapshotKeys is b.SnapshotKeys(co, t) as one string.
func snapshotKeys(t testing.TB, b *badgerstore.Badger, co string, dt dataset.DataType) string {
	t.Helper()
	keys, err := b.SnapshotKeys(co, string(dt))
	must(t, "SnapshotKeys", err)
	return fmt.Sprint(keys)
}

func cachedIDs(t testing.TB, s store.Backend, co string, dt dataset.DataType) string {
	t.Helper()
	var ids []string
	must(t, "CachedRecords", s.CachedRecords(t.Context(), co, string(dt), func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	}))
	return fmt.Sprint(ids)
}

// TestSpaceReclaimed checks that the pages and records nobody can see any
// more are deleted, not only out of sight: an earlier attempt's pages at
// the next claim, a replaced snapshot and its pages at the publish, a
// failed dataset's pages at the next publish.
func TestSpaceReclaimed(t *testing.T) {
	b := openTest(t)
	u := newUploader(t, b, "co-1")
	u.mapping("ds-1", dataset.Customers, "lease-1")
	u.put("ds-1", "lease-1", 1, "a")
	u.put("ds-1", "lease-1", 2, "b")
	if _, err := b.ExpireLeases(t.Context(), sec(4).Add(time.Minute)); err != nil {
		t.Fatalf("ExpireLeases: %v", err)
	}
	u.claim("ds-1", "lease-2")
	if left := keysUnder(t, b, "pg/co-1/ds-1/"); len(left) > 0 {
		t.Errorf("pages of the expired attempt after a new claim: %v", left)
	}

	u.publish("ds-2", dataset.Suppliers, "a", "b", "c")
	u.mapping("ds-f", dataset.Invoices, "lease-f")
	u.put("ds-f", "lease-f", 1, "x")
	u.processing("ds-f", "lease-f")
	u.report("ds-f", dataset.ProcessingError)
	if len(keysUnder(t, b, "pg/co-1/ds-f/")) != 1 || len(keysUnder(t, b, "pd/co-1/ds-f")) != 1 {
		t.Fatalf("a failed dataset's page and mark: got %v", append(keysUnder(t, b, "pg/"), keysUnder(t, b, "pd/")...))
	}
	u.publish("ds-3", dataset.Suppliers, "d")
	// ds-3's page holds its snapshot's records (badger_snapref.go).
	if left := keysUnder(t, b, "pg/co-1/ds-3/"); len(left) != 1 {
		t.Errorf("pages of the current snapshot: got %v, want its one page", left)
	}
	if got, want := snapshotKeys(t, b, "co-1", dataset.Suppliers), fmt.Sprintf("[ds-3/%x]", "d"); got != want {
		t.Errorf("snapshot keys after a publish: got %s, want %s", got, want)
	}
	for _, p := range []string{"pg/co-1/ds-2/", "pg/co-1/ds-f/", "pd/"} {
		if left := keysUnder(t, b, p); len(left) > 0 {
			t.Errorf("keys under %s after a publish: %v", p, left)
		}
	}
	if got := cachedIDs(t, b, "co-1", dataset.Suppliers); got != "[d]" {
		t.Errorf("cached records: got %s, want [d]", got)
	}
}

// TestPublishCutShort checks a PublishCache cut short after writing its
// records, before the swap: nothing shows, the next call for the dataset
// publishes it whole, and a snapshot whose dataset failed instead is
// deleted by the next publish of its type.
func TestPublishCutShort(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	u := newUploader(t, b, "co-1")
	u.publish("ds-0", dataset.Customers, "old")

	u.mapping("ds-1", dataset.Customers, "lease-1")
	u.put("ds-1", "lease-1", 1, "a", "b")
	u.processing("ds-1", "lease-1")
	must(t, "WriteSnapshotCutShort", b.WriteSnapshotCutShort(ctx, "co-1", "ds-1"))
	if got := cachedIDs(t, b, "co-1", dataset.Customers); got != "[old]" {
		t.Errorf("records before the swap: got %s, want [old]", got)
	}
	d, err := b.PublishCache(ctx, "co-1", "ds-1", sec(9))
	must(t, "PublishCache after a cut", err)
	if d.Status != dataset.Complete {
		t.Errorf("status: got %s, want Complete", d.Status)
	}
	if got := cachedIDs(t, b, "co-1", dataset.Customers); got != "[a b]" {
		t.Errorf("records after the publish: got %s, want [a b]", got)
	}

	u.mapping("ds-2", dataset.Customers, "lease-2")
	u.put("ds-2", "lease-2", 1, "orphan")
	u.processing("ds-2", "lease-2")
	must(t, "WriteSnapshotCutShort", b.WriteSnapshotCutShort(ctx, "co-1", "ds-2"))
	u.report("ds-2", dataset.ProcessingError)
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-1/%x ds-1/%x ds-2/%x]", "a", "b", "orphan"); got != want {
		t.Fatalf("the cut-short snapshot: got keys %s, want %s", got, want)
	}
	u.publish("ds-3", dataset.Customers, "c")
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-3/%x]", "c"); got != want {
		t.Errorf("snapshot keys after the next publish: got %s, want ds-3's record only, %s", got, want)
	}
}

// TestPublishBadRecord checks that a page line without an id fails the
// publish and leaves the dataset Processing with nothing published.
func TestPublishBadRecord(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	u := newUploader(t, b, "co-1")
	u.mapping("ds-1", dataset.Customers, "lease-1")
	u.put("ds-1", "lease-1", 1, "a")
	p := store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: 2, Records: 1, Data: []byte("{\"name\":\"no id\"}\n")}
	must(t, "PutPage", b.PutPage(ctx, p))
	u.processing("ds-1", "lease-1")
	if _, err := b.PublishCache(ctx, "co-1", "ds-1", sec(9)); err == nil {
		t.Fatalf("PublishCache of a record without an id: got no error")
	}
	d, err := b.Dataset(ctx, "co-1", "ds-1")
	must(t, "Dataset", err)
	if d.Status != dataset.Processing {
		t.Errorf("status after a failed publish: got %s, want Processing", d.Status)
	}
	if got := cachedIDs(t, b, "co-1", dataset.Customers); got != "[]" {
		t.Errorf("records after a failed publish: got %s", got)
	}
}

// fillAgentData adds to what fill made the agent's side of a company: a
// published snapshot, a staged page, a failed dataset whose pages wait for
// deletion and a committed one waiting for processing.
func fillAgentData(t testing.TB, b *badgerstore.Badger, co string) {
	t.Helper()
	u := newUploader(t, b, co)
	u.publish(co+"-pub", dataset.Bills, co+"-r1", co+"-r2")
	u.put(co+"-mapping", "lease-"+co+"-mapping", 1, co+"-m")
	u.mapping(co+"-failed", dataset.TaxRates, "lease-"+co+"-failed")
	u.put(co+"-failed", "lease-"+co+"-failed", 1, co+"-f")
	u.report(co+"-failed", dataset.InternalError)
	u.mapping(co+"-val", dataset.JournalEntries, "lease-"+co+"-val")
	u.put(co+"-val", "lease-"+co+"-val", 1, co+"-v")
	_, err := b.CommitUpload(t.Context(), "agent-1", co+"-val", "lease-"+co+"-val", sec(6))
	must(t, "CommitUpload", err)
}

// agentConnections returns the ids of the agent's connections.
func agentConnections(t testing.TB, s store.Backend, agent string) string {
	t.Helper()
	cs, err := s.AgentConnections(t.Context(), agent)
	must(t, "AgentConnections", err)
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return fmt.Sprint(ids)
}

// TestPublishByLineIndex checks that a page stored with its lines is
// published by them, beside a page stored without (read by parsing), and
// that lines outside the page's data are refused.
func TestPublishByLineIndex(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	u := newUploader(t, b, "co-1")
	u.mapping("ds-1", dataset.Customers, "lease-1")
	u.put("ds-1", "lease-1", 1, "a")
	data := " {\"id\":\"b\",\"n\":1}\n{\"id\":\"c\\u0041\"}\n"
	p := store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: 2, Records: 2, Data: []byte(data),
		Lines: []store.Line{{ID: "b", Start: 1, End: 17}, {ID: "cA", Start: 18, End: 34}}}
	bad := p
	bad.Lines = []store.Line{{ID: "b", Start: 1, End: len(data) + 1}}
	if err := b.PutPage(ctx, bad); err == nil {
		t.Fatalf("PutPage with a line past its data: got no error")
	}
	must(t, "PutPage", b.PutPage(ctx, p))
	var staged []string
	must(t, "Pages", b.Pages(ctx, "ds-1", func(p store.Page) error {
		staged = append(staged, string(p.Data))
		return nil
	}))
	if len(staged) != 2 || staged[1] != data {
		t.Errorf("staged pages: got %q, want page 2 %q", staged, data)
	}
	u.processing("ds-1", "lease-1")
	_, err := b.PublishCache(ctx, "co-1", "ds-1", sec(9))
	must(t, "PublishCache", err)
	if got, want := cachedIDs(t, b, "co-1", dataset.Customers), "[a b cA]"; got != want {
		t.Errorf("cached ids: got %s, want %s", got, want)
	}
	rec, err := b.CachedRecord(ctx, "co-1", string(dataset.Customers), "cA")
	must(t, "CachedRecord", err)
	if got, want := string(rec), `{"id":"c\u0041"}`; got != want {
		t.Errorf("record cA: got %s, want %s", got, want)
	}
}

// TestWriteSnapshotKeys checks the keys of a snapshot written in the
// validation's pass: its records and its mark while Validating, kept by
// another publish of its type meanwhile; the mark deleted by the swap;
// and a snapshot whose dataset failed validation deleted, mark and all,
// by the next publish of its type.
func TestWriteSnapshotKeys(t *testing.T) {
	b := openTest(t)
	ctx := t.Context()
	u := newUploader(t, b, "co-1")
	validating := func(id string, ids ...string) {
		t.Helper()
		u.mapping(id, dataset.Customers, "lease-"+id)
		u.put(id, "lease-"+id, 1, ids...)
		_, err := b.CommitUpload(ctx, "agent-1", id, "lease-"+id, sec(6))
		must(t, "CommitUpload "+id, err)
		must(t, "WriteSnapshot "+id, b.WriteSnapshot(ctx, "co-1", id, func([]byte) error { return nil }))
	}
	validating("ds-1", "a", "b")
	// Another connection of the company publishes the type meanwhile.
	other := uploader{t: t, s: b, co: "co-1", conn: "conn-2"}
	must(t, "CreateConnection", b.CreateConnection(ctx,
		store.Connection{ID: other.conn, CompanyID: "co-1", Status: store.Linked, AgentID: "agent-1", Created: sec(2)},
		store.LinkCode{Hash: []byte("hash-conn-2"), Expires: sec(1000)}))
	other.publish("ds-0", dataset.Customers, "other")
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-0/%x ds-1 ds-1/%x ds-1/%x]", "other", "a", "b"); got != want {
		t.Errorf("a Validating dataset's snapshot after another publish: got keys %s, want its mark and 2 records beside the current, %s", got, want)
	}
	// A record taken out of the written snapshot stays out: the swap
	// writes none of them again.
	must(t, "DeleteCachedRecord", b.DeleteCachedRecord("co-1", "customers", "ds-1", "b"))
	u.report("ds-1", dataset.Processing)
	_, err := b.PublishCache(ctx, "co-1", "ds-1", sec(8))
	must(t, "PublishCache ds-1", err)
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-1/%x]", "a"); got != want {
		t.Errorf("keys after the swap: got %s, want ds-1's record a alone (the snapshot not written again), %s", got, want)
	}

	validating("ds-2", "x")
	u.report("ds-2", dataset.ValidationError)
	u.publish("ds-3", dataset.Customers, "z")
	if got, want := snapshotKeys(t, b, "co-1", dataset.Customers), fmt.Sprintf("[ds-3/%x]", "z"); got != want {
		t.Errorf("keys after a failed dataset's snapshot and the next publish: got %s, want ds-3's record, %s", got, want)
	}
}
