package worker

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// TestClaimedKeepsItsSlot: a claimed that arrives while the agent looks
// for room to claim more is counted as a claim or as a job, never as
// neither: an agent of concurrency 1 holding the claimed dataset never
// claims a second one (which it would then have to ignore, leaving it
// Fetching until its lease expired). The two run at once many times; before
// the fix, claimNext saw the slot free between the claim being forgotten
// and its job being added.
func TestClaimedKeepsItsSlot(t *testing.T) {
	ws := sinkConn(t)
	claimed := protocol.Message{Type: protocol.TypeClaimed, ReplyTo: "claim-1", Claimed: &protocol.Claimed{
		Offer: protocol.Offer{DatasetID: "ds-1", ConnectionID: "conn", CompanyID: "co", DataType: dataset.Customers, Attempt: 1}, LeaseID: "lease-1"}}
	for i := range 2000 {
		w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler),
			Bindings: []Binding{{ConnectionID: "conn", CompanyID: "co", Source: heldSource{}}}})
		s := &session{ws: ws, heartbeat: time.Minute, claims: map[string]string{"claim-1": "ds-1"}, beats: map[string]time.Time{}}
		w.waiting = []protocol.Offer{{DatasetID: "ds-2", ConnectionID: "conn", CompanyID: "co", DataType: dataset.Customers, Attempt: 1}}
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
// two. Before the fix each counted the room before either recorded its
// claim; the second claimed dataset was then ignored and left Fetching
// until its lease expired (seen as e2e TestHAProxy's missing type).
func TestClaimNextCountsOnce(t *testing.T) {
	ws := sinkConn(t)
	offer := func(id string) protocol.Offer {
		return protocol.Offer{DatasetID: id, ConnectionID: "conn", CompanyID: "co", DataType: dataset.Customers, Attempt: 1}
	}
	for i := range 2000 {
		w := New(Config{Concurrency: 1, Logger: slog.New(slog.DiscardHandler),
			Bindings: []Binding{{ConnectionID: "conn", CompanyID: "co", Source: heldSource{}}}})
		s := &session{ws: ws, heartbeat: time.Minute, claims: map[string]string{}, beats: map[string]time.Time{}}
		w.waiting = []protocol.Offer{offer("ds-1"), offer("ds-2")}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); w.claimNext(s) }()
		go func() { defer wg.Done(); w.claimNext(s) }()
		wg.Wait()
		s.mu.Lock()
		n := len(s.claims)
		s.mu.Unlock()
		if n != 1 {
			t.Fatalf("run %d: %d claims in flight with concurrency 1, want 1", i, n)
		}
	}
}
