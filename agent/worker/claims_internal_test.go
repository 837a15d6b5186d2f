package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// heldSource holds every dataset until it is cancelled.
type heldSource struct{}

func (heldSource) DataTypes() []dataset.DataType { return []dataset.DataType{dataset.Customers} }

func (heldSource) Fetch(ctx context.Context, _ dataset.DataType) (source.Batch, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// sinkConn is a websocket to a server that reads and drops every message:
// where the tests' claims are written.
func sinkConn(t *testing.T) *websocket.Conn {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// offer is an offer of dataset id of connection conn.
func offer(id, conn string, dt dataset.DataType) protocol.Offer {
	return protocol.Offer{DatasetID: id, ConnectionID: conn, CompanyID: "co", DataType: dt, Attempt: 1}
}

// bindings binds the connections conn and conn-2 to src.
func bindings(src source.Source) []Binding {
	return []Binding{{ConnectionID: "conn", CompanyID: "co", Source: src}, {ConnectionID: "conn-2", CompanyID: "co", Source: src}}
}

// TestClaimedKeepsItsSlot: a claimed that arrives while the agent looks
// for room to claim more is counted as a claim or as a job, never as
// neither: an agent of concurrency 1 holding the claimed dataset never
// claims one of another connection (which it would then have to ignore,
// leaving it Fetching until its lease expired). The two run at once many
// times; before the fix, claimNext saw the slot free between the claim
// being forgotten and its job being added.
func TestClaimedKeepsItsSlot(t *testing.T) {
	ws := sinkConn(t)
	claimed := protocol.Message{Type: protocol.TypeClaimed, ReplyTo: "claim-1", Claimed: &protocol.Claimed{
		Offer: offer("ds-1", "conn", dataset.Customers), LeaseID: "lease-1"}}
	for i := range 2000 {
		w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler), Bindings: bindings(heldSource{})})
		s := &session{ws: ws, heartbeat: time.Minute, claims: map[string]protocol.Offer{"claim-1": claimed.Claimed.Offer}, beats: map[string]time.Time{}}
		w.waiting = []protocol.Offer{offer("ds-2", "conn-2", dataset.Customers)}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); w.onClaimed(ctx, s, claimed) }()
		go func() { defer wg.Done(); w.claimNext(s) }()
		wg.Wait()
		s.mu.Lock()
		extra := len(s.claims)
		s.mu.Unlock()
		cancel()
		w.jobWG.Wait()
		if extra > 0 {
			t.Fatalf("run %d: a second claim was sent while the one slot held ds-1", i)
		}
	}
}

// TestClaimNextCountsOnce: two claimNext calls at once (the reader on an
// offer, a job's end) with one free slot send one claim between them, not
// two, for datasets of two connections. Before the fix each counted the
// room before either recorded its claim; the second claimed dataset was
// then ignored and left Fetching until its lease expired (seen as e2e
// TestHAProxy's missing type).
func TestClaimNextCountsOnce(t *testing.T) {
	ws := sinkConn(t)
	for i := range 2000 {
		w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler), Bindings: bindings(heldSource{})})
		s := &session{ws: ws, heartbeat: time.Minute, claims: map[string]protocol.Offer{}, beats: map[string]time.Time{}}
		w.waiting = []protocol.Offer{offer("ds-1", "conn", dataset.Customers), offer("ds-2", "conn-2", dataset.Customers)}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); w.claimNext(s) }()
		go func() { defer wg.Done(); w.claimNext(s) }()
		wg.Wait()
		s.mu.Lock()
		n := len(s.claims)
		s.mu.Unlock()
		if n != 1 {
			t.Fatalf("run %d: %d claims in flight for two connections with concurrency 1, want 1", i, n)
		}
	}
}

// readsSource reads several types at once and tells each read's types on
// started; a read holds until it is cancelled.
type readsSource struct{ started chan []dataset.DataType }

func (readsSource) DataTypes() []dataset.DataType { return dataset.DataTypes }

func (readsSource) Fetch(context.Context, dataset.DataType) (source.Batch, error) {
	return nil, errors.New("read one type at a time")
}

func (r readsSource) FetchTypes(ctx context.Context, dts []dataset.DataType) (source.MultiBatch, error) {
	r.started <- dts
	<-ctx.Done()
	return nil, ctx.Err()
}

// nextRead is the types of the next read started.
func (r readsSource) nextRead(t *testing.T) []dataset.DataType {
	t.Helper()
	select {
	case dts := <-r.started:
		return dts
	case <-time.After(10 * time.Second):
		t.Fatal("no read started")
		return nil
	}
}

// grant answers every claim of s but those of the datasets in refuse with
// its claimed, as the coordinator does, and returns the claims refused.
func grant(ctx context.Context, w *Worker, s *session, refuse ...string) []string {
	s.mu.Lock()
	claims := maps.Clone(s.claims)
	s.mu.Unlock()
	var refused []string
	for id, o := range claims {
		if slices.Contains(refuse, o.DatasetID) {
			refused = append(refused, id)
			continue
		}
		w.onClaimed(ctx, s, protocol.Message{Type: protocol.TypeClaimed, ReplyTo: id, Claimed: &protocol.Claimed{Offer: o, LeaseID: "lease-" + id}})
	}
	return refused
}

// TestClaimsGatherOneRead: the offers of one connection are claimed
// together, up to one read's worth (perRead) with one read slot, and none
// of another connection's; the read starts once every claim is answered,
// granted or refused, and reads the granted datasets' types together.
func TestClaimsGatherOneRead(t *testing.T) {
	src := readsSource{started: make(chan []dataset.DataType, 1)}
	w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler), Bindings: bindings(src)})
	s := &session{ws: sinkConn(t), heartbeat: time.Minute, claims: map[string]protocol.Offer{}, beats: map[string]time.Time{}}
	for i, dt := range dataset.DataTypes {
		w.waiting = append(w.waiting, offer(fmt.Sprint("ds-", i), "conn", dt))
	}
	w.waiting = append(w.waiting, offer("one-too-many", "conn", dataset.Customers), offer("other", "conn-2", dataset.Customers))
	w.claimNext(s)
	if len(s.claims) != perRead {
		t.Fatalf("%d claims, want %d: one of each type of the connection", len(s.claims), perRead)
	}
	for _, o := range s.claims {
		if o.ConnectionID != "conn" || o.DatasetID == "one-too-many" {
			t.Errorf("claimed %s of %s", o.DatasetID, o.ConnectionID)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer w.jobWG.Wait()
	defer cancel()
	refused := grant(ctx, w, s, "ds-0")
	w.mu.Lock()
	reads := w.reads
	w.mu.Unlock()
	if reads != 0 {
		t.Fatalf("a read started while a claim waited for its answer")
	}
	s.forget(refused[0]) // the coordinator's refusal, as dispatch takes it
	w.claimNext(s)
	got, want := src.nextRead(t), slices.Clone(dataset.DataTypes[1:])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the read has the types %v, want every one but %s", got, dataset.DataTypes[0])
	}
	if len(s.claims) != 0 {
		t.Errorf("%d claims sent while the one read slot was taken", len(s.claims))
	}
}

// TestClaimsLostWithTheSession: a session that ends with a claim not
// answered never answers it: the read gathered for its connection starts
// with the datasets granted.
func TestClaimsLostWithTheSession(t *testing.T) {
	src := readsSource{started: make(chan []dataset.DataType, 1)}
	w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler), Bindings: bindings(src)})
	s := &session{ws: sinkConn(t), heartbeat: time.Minute, claims: map[string]protocol.Offer{}, beats: map[string]time.Time{}}
	w.waiting = []protocol.Offer{offer("ds-1", "conn", dataset.Customers), offer("ds-2", "conn", dataset.Suppliers)}
	w.claimNext(s)
	ctx, cancel := context.WithCancel(t.Context())
	defer w.jobWG.Wait()
	defer cancel()
	grant(ctx, w, s, "ds-2")
	w.detach(s)
	if got := src.nextRead(t); !slices.Equal(got, []dataset.DataType{dataset.Customers}) {
		t.Errorf("the read has the types %v, want the one granted, customers", got)
	}
}
