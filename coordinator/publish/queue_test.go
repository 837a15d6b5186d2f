package publish

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestQueueTakesAnotherCompanyWhileOneIsBusy: while a loop works on a
// company, the next loop takes the first dataset of another company,
// passing over the busy company's (which waits, in order, for its turn):
// a company's long publish holds up no other company. With companies
// bound to loops by a hash of their id, two companies of one loop
// waited for each other.
func TestQueueTakesAnotherCompanyWhileOneIsBusy(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	q := newWorkQueue(10)
	for _, w := range []item{{"co-a", "a1"}, {"co-a", "a2"}, {"co-b", "b1"}, {"co-a", "a3"}} {
		if !q.put(ctx, w) {
			t.Fatal("put: no room")
		}
	}
	take := func() item {
		t.Helper()
		w, ok := q.take(ctx)
		if !ok {
			t.Fatal("take: nothing taken before the deadline")
		}
		return w
	}
	if w := take(); w.datasetID != "a1" {
		t.Fatalf("first take: got %s, want a1", w.datasetID)
	}
	if w := take(); w.datasetID != "b1" {
		t.Fatalf("second take, co-a busy: got %s, want b1", w.datasetID)
	}
	// Nothing else may start until co-a's turn ends: a2 waits for it.
	got := make(chan item)
	go func() {
		w, _ := q.take(ctx)
		got <- w
	}()
	q.done("co-b")
	q.done("co-a")
	if w := <-got; w.datasetID != "a2" {
		t.Fatalf("take after co-a's turn: got %s, want a2 (its datasets in order)", w.datasetID)
	}
	q.done("co-a")
	if w := take(); w.datasetID != "a3" {
		t.Fatalf("last take: got %s, want a3", w.datasetID)
	}
}

// TestQueuePutWaitsForRoom: a full queue holds the caller until a take
// makes room, or until its context ends.
func TestQueuePutWaitsForRoom(t *testing.T) {
	q := newWorkQueue(1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if !q.put(ctx, item{"co-a", "a1"}) {
		t.Fatal("put into an empty queue")
	}
	ended, stop := context.WithCancel(ctx)
	stop()
	if q.put(ended, item{"co-b", "b1"}) {
		t.Fatal("put into a full queue returned true with its context ended")
	}
	put := make(chan bool)
	go func() { put <- q.put(ctx, item{"co-b", "b1"}) }()
	if w, ok := q.take(ctx); !ok || w.datasetID != "a1" {
		t.Fatalf("take: got %v %v", w, ok)
	}
	if !<-put {
		t.Fatal("a waiting put did not get the room a take made")
	}
	if w, ok := q.take(ctx); !ok || w.datasetID != "b1" {
		t.Fatalf("take after the waiting put: got %v %v", w, ok)
	}
}

// heldStore holds the process loop's first read of a dataset of company
// co until hold is closed; held is closed once it holds it.
type heldStore struct {
	Store
	co         string
	hold, held chan struct{}
	once       sync.Once
}

func (s *heldStore) Dataset(ctx context.Context, companyID, id string) (store.Dataset, error) {
	if companyID == s.co {
		first := false
		s.once.Do(func() { first = true })
		if first {
			close(s.held)
			select {
			case <-s.hold:
			case <-ctx.Done():
			}
		}
	}
	return s.Store.Dataset(ctx, companyID, id)
}

// TestPublisherPassesOverABusyCompany: a dataset of company co-9 is
// published to Complete while a process loop is held on a dataset of
// co-1. Both ids hashed to the same loop of the eight when each company
// had its own (fnv-32a mod 8 is 5 for both), where co-9's dataset waited
// for co-1's to end.
func TestPublisherPassesOverABusyCompany(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	other := *e
	other.co, other.conn = "co-9", "cn-9"
	if err := e.st.CreateCompany(ctx, store.Company{ID: other.co, Name: "Other", Created: e.now}); err != nil {
		t.Fatal(err)
	}
	code := store.LinkCode{Hash: []byte("code-9"), CompanyID: other.co, ConnectionID: other.conn, Expires: e.now.Add(time.Hour)}
	if err := e.st.CreateConnection(ctx, store.Connection{ID: other.conn, CompanyID: other.co, PlatformKey: "csv",
		Status: store.PendingAuth, Created: e.now, LinkCodeExpires: code.Expires}, code); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RedeemLinkCode(ctx, code.Hash, e.agent, e.now); err != nil {
		t.Fatal(err)
	}
	hs := &heldStore{Store: e.st, co: e.co, hold: make(chan struct{}), held: make(chan struct{})}
	p := New(Config{Store: hs, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return e.now }})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(hs.hold)
		}
	}
	defer release()

	busy := e.committed(dataset.Customers, nil, `{"id":"c1","customerName":"A"}`)
	p.Publish(e.co, busy)
	<-hs.held
	waiting := other.committed(dataset.Customers, nil, `{"id":"c9","customerName":"B"}`)
	p.Publish(other.co, waiting)
	other.waitStatus(waiting, dataset.Complete)
	if d, err := e.st.Dataset(ctx, e.co, busy); err != nil || d.Status != dataset.Validating {
		t.Fatalf("the held dataset: %s, %v; want Validating still", d.Status, err)
	}
	release()
	e.waitStatus(busy, dataset.Complete)
}
