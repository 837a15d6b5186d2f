package publish

import (
	"context"

	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a Publisher over a real Badger store with a company and a
// connection bound to an agent, which uploads as the hub would store it.
type env struct {
	t     *testing.T
	st    *badgerstore.Badger
	pub   *Publisher
	now   time.Time
	co    string
	conn  string
	agent string
}

// newEnv builds the env; the Publisher is not started.
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		co: "co-1", conn: "cn-1", agent: "agent-1"}
	ctx := t.Context()
	if err := st.CreateCompany(ctx, store.Company{ID: e.co, Name: "Acme", Created: e.now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAgent(ctx, store.Agent{ID: e.agent, CredentialHash: []byte("cred"), Created: e.now}); err != nil {
		t.Fatal(err)
	}
	code := store.LinkCode{Hash: []byte("code"), CompanyID: e.co, ConnectionID: e.conn, Expires: e.now.Add(time.Hour)}
	if err := st.CreateConnection(ctx, store.Connection{ID: e.conn, CompanyID: e.co, PlatformKey: "csv",
		Status: store.PendingAuth, Created: e.now, LinkCodeExpires: code.Expires}, code); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RedeemLinkCode(ctx, code.Hash, e.agent, e.now); err != nil {
		t.Fatal(err)
	}
	return e
}

// start starts the Publisher; the test's end closes it.
func (e *env) start() *env {
	e.t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	e.pub = New(Config{Store: e.st, Logger: log, Now: func() time.Time { return e.now }})
	if err := e.pub.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(e.pub.Close)
	return e
}

// committed queues a dataset of type dt, claims it for the agent, reports
// Mapping with warnings, stages recs in one page (none: an empty dataset)
// and commits it: the dataset is Validating, as the hub leaves it.
func (e *env) committed(dt dataset.DataType, warnings []store.Warning, recs ...string) string {
	e.t.Helper()
	d, lease := e.staged(dt, warnings, recs...)
	d, err := e.st.CommitUpload(e.t.Context(), e.agent, d.ID, lease, e.now)
	if err != nil || d.Status != dataset.Validating {
		e.t.Fatalf("commit: %s, %v", d.Status, err)
	}
	return d.ID
}

// staged is committed without the commit: the dataset is Mapping under
// the lease it returns, its page staged.
func (e *env) staged(dt dataset.DataType, warnings []store.Warning, recs ...string) (store.Dataset, string) {
	e.t.Helper()
	ctx := e.t.Context()
	queued, err := e.st.QueueDataset(ctx, store.QueueRequest{ID: uuid.NewString(), CompanyID: e.co, ConnectionID: e.conn,
		DataType: dt, Now: e.now})
	if err != nil {
		e.t.Fatal(err)
	}
	d := queued.Dataset
	lease := uuid.NewString()
	if _, err := e.st.Claim(ctx, store.ClaimRequest{DatasetID: d.ID, AgentID: e.agent, LeaseID: lease, Now: e.now, TTL: time.Hour}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: e.co, DatasetID: d.ID, LeaseID: lease, Actor: e.agent,
		To: dataset.Mapping, Now: e.now, Warnings: warnings}); err != nil {
		e.t.Fatal(err)
	}
	if len(recs) > 0 {
		p := store.Page{AgentID: e.agent, DatasetID: d.ID, LeaseID: lease, N: 1, Records: len(recs)}
		for _, r := range recs {
			var v struct{ ID string }
			if err := json.Unmarshal([]byte(r), &v); err != nil {
				e.t.Fatal(err)
			}
			p.Lines = append(p.Lines, store.Line{ID: v.ID, Start: len(p.Data), End: len(p.Data) + len(r)})
			p.Data = append(append(p.Data, r...), '\n')
		}
		if err := e.st.PutPage(ctx, p); err != nil {
			e.t.Fatal(err)
		}
	}
	if d, err = e.st.Dataset(ctx, e.co, d.ID); err != nil {
		e.t.Fatal(err)
	}
	return d, lease
}

// waitStatus waits (with a deadline) for a dataset to reach a status.
func (e *env) waitStatus(id string, want dataset.Status) store.Dataset {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.st.Dataset(e.t.Context(), e.co, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if d.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("dataset %s is %s, want %s", id, d.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPublishCompletes: a committed dataset is validated, its records
// become the company's cache of the type, it completes through Processing,
// and the agent's connection is offered its queued work again.
func TestPublishCompletes(t *testing.T) {
	e := newEnv(t).start()
	id := e.committed(dataset.Customers, nil, customerC001)
	sub := e.st.Feed().Subscribe(e.st.Feed().Head())
	e.pub.Publish(e.co, id)
	d := e.waitStatus(id, dataset.Complete)
	var path []string
	for _, s := range d.Timeline {
		path = append(path, string(s.To))
	}
	if got := strings.Join(path, " "); !strings.HasSuffix(got, "Validating Processing Complete") {
		t.Errorf("timeline %s, want it to end Validating Processing Complete", got)
	}
	rec, err := e.st.CachedRecord(t.Context(), e.co, string(dataset.Customers), "C001")
	if err != nil || string(rec) != customerC001 {
		t.Errorf("cached C001: %s, %v", rec, err)
	}
	// The hub learns of the end, to offer the connection's queued work
	// again, from the feed.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ended := false; !ended; {
		changes, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("no change with the dataset Complete on the feed: %v", err)
		}
		for _, c := range changes {
			for _, dc := range c.Datasets {
				ended = ended || (dc.ID == id && dc.To == dataset.Complete && dc.ConnectionID == e.conn)
			}
		}
	}
}

// TestResume: the datasets a stopped coordinator left in Validating or
// Processing before the time given are finished, without anything
// handing them over; a later one is left to whoever has it.
func TestResume(t *testing.T) {
	e := newEnv(t)
	validating := e.committed(dataset.Customers, nil, customerC001)
	processing := e.committed(dataset.TaxRates, nil, taxRateVAT20)
	if _, err := e.st.Report(t.Context(), store.Report{CompanyID: e.co, DatasetID: processing, Actor: store.ActorCoordinator,
		To: dataset.Processing, Now: e.now}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	recent := e.committed(dataset.Invoices, nil, customerC001)
	e.start()
	if err := e.pub.Resume(t.Context(), e.now); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(validating, dataset.Complete)
	e.waitStatus(processing, dataset.Complete)
	if d, _ := e.st.Dataset(t.Context(), e.co, recent); d.Status != dataset.Validating {
		t.Errorf("the dataset committed at the time given: %s, want left Validating", d.Status)
	}
}
