package hub

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// replica is another hub, named id, on e's store and feed: a replica of
// e's, as two coordinators on one database are.
func replica(e *env, id string, edit func(*Config)) *env {
	e.t.Helper()
	log := slog.New(slog.DiscardHandler)
	pub := publish.New(publish.Config{Store: e.st, Logger: log, Now: e.clock.Now})
	cfg := Config{Store: e.st, Queuer: e.q, Publisher: pub, Feed: e.st.Feed(), Logger: log, Now: e.clock.Now,
		ExpiryInterval: time.Hour, Replica: id}
	if edit != nil {
		edit(&cfg)
	}
	h := New(cfg)
	if err := h.Start(); err != nil {
		e.t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	e.t.Cleanup(func() {
		h.Close()
		pub.Close()
		srv.Close()
	})
	return &env{t: e.t, st: e.st, hub: h, q: e.q, clock: e.clock, url: srv.URL, co: e.co}
}

// closedWith waits for the coordinator to close a's channel and returns
// the reason it gave.
func (a *agent) closedWith() string {
	a.t.Helper()
	_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := a.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Text
		}
		if err != nil {
			a.t.Fatalf("waiting for the close: %v", err)
		}
	}
}

// TestReplicaSupersedes: an agent's newer channel on another replica
// closes the older one as superseded; the replica that lost it reports
// nothing offline (no connection.disconnected), and both replicas' agent
// state says online on the newer one's replica. The newer channel ending
// reports the agent offline.
func TestReplicaSupersedes(t *testing.T) {
	a := newEnvWith(t, func(c *Config) { c.Replica = "replica-a" })
	b := replica(a, "replica-b", nil)
	if err := a.st.CreateWebhook(t.Context(), store.Webhook{ID: "wh-1", URL: "https://hooks.example/p", Secret: "s",
		EventTypes: []string{store.EventConnectionConnected, store.EventConnectionDisconnected}, Created: a.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	conn, cred := a.linked()
	onA, w := a.connect(cred, all(conn))
	agentID := w.AgentID
	presenceOutbox(t, a.st, 1)
	state := func(e *env) (bool, string) {
		t.Helper()
		s, err := e.hub.AgentState(t.Context(), agentID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Online, s.ReplicaID
	}
	if on, r := state(b); !on || r != "replica-a" {
		t.Errorf("agent on A, as B sees it: online %v on %q; want online on replica-a", on, r)
	}

	onB, _ := b.connect(cred, all(conn))
	if got := onA.closedWith(); got != store.ReasonSuperseded {
		t.Errorf("A's channel closed with %q, want %q", got, store.ReasonSuperseded)
	}
	// A records its channel's end; it must name no connection.
	waitUntil(t, "A's Disconnected event", func() bool {
		evs, _ := a.st.AgentEvents(t.Context(), agentID)
		return slices.ContainsFunc(evs, func(e store.AgentEvent) bool { return e.Type == store.EventDisconnected })
	})
	evs, _ := a.st.AgentEvents(t.Context(), agentID)
	for _, e := range evs {
		if e.Type == store.EventDisconnected && (len(e.Connections) > 0 || e.Reason != store.ReasonSuperseded) {
			t.Errorf("A's end: %+v; want superseded, naming no connection", e)
		}
	}
	if got := countTypes(presenceOutbox(t, a.st, 2)); got[store.EventConnectionDisconnected] != 0 || got[store.EventConnectionConnected] != 2 {
		t.Errorf("presence after the move: %v; want connected twice, never disconnected", got)
	}
	if a.hub.Online(agentID) || !b.hub.Online(agentID) {
		t.Errorf("live here: A %v, B %v; want B only", a.hub.Online(agentID), b.hub.Online(agentID))
	}
	for _, e := range []*env{a, b} {
		if on, r := state(e); !on || r != "replica-b" {
			t.Errorf("agent on B: online %v on %q; want online on replica-b", on, r)
		}
	}

	onB.ws.Close()
	got := countTypes(presenceOutbox(t, a.st, 3))
	if got[store.EventConnectionDisconnected] != 1 {
		t.Errorf("presence after B's channel ended: %v; want one disconnected", got)
	}
	waitUntil(t, "the agent offline on A", func() bool { on, _ := state(a); return !on })
}

// TestReplicaStaleClaimLoses: a channel whose claim an older one's
// change reaches after it was superseded elsewhere keeps the agent; a
// claim left by a replica that stopped without releasing it (killed) is
// cleared when that replica starts again.
func TestReplicaStaleClaimLoses(t *testing.T) {
	a := newEnvWith(t, func(c *Config) { c.Replica = "replica-a" })
	conn, cred := a.linked()
	onA, w := a.connect(cred, all(conn))
	// Another replica claims the channel in the store (its agent's
	// connection there is not needed to see A give way).
	epoch, err := a.st.ClaimChannel(t.Context(), w.AgentID, "replica-gone")
	if err != nil {
		t.Fatal(err)
	}
	if got := onA.closedWith(); got != store.ReasonSuperseded {
		t.Errorf("A's channel closed with %q, want superseded", got)
	}
	if ch, _ := a.st.Channel(t.Context(), w.AgentID); ch.Replica != "replica-gone" || ch.Epoch != epoch {
		t.Errorf("after A's channel ended: %+v; want replica-gone's claim kept", ch)
	}
	// replica-gone starts again: its old claim goes.
	replica(a, "replica-gone", nil)
	if ch, _ := a.st.Channel(t.Context(), w.AgentID); ch.Replica != "" {
		t.Errorf("after replica-gone restarted: %+v; want released", ch)
	}
}

// TestSweepOffersWhatTheFeedMissed: with a change feed that never brings
// the queued dataset (a lost notification), the periodic sweep offers it.
func TestSweepOffersWhatTheFeedMissed(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.Feed = store.NewFeed(16) // nothing is published on it
		c.SweepInterval = 20 * time.Millisecond
	})
	conn, cred := e.linked()
	// Linking queued every type: one ends, to be queued again once the
	// agent is connected.
	queued, _, err := e.st.QueuedDatasets(t.Context(), conn)
	if err != nil || len(queued) == 0 {
		t.Fatalf("queued at link: %d, %v", len(queued), err)
	}
	if _, err := e.st.Report(t.Context(), store.Report{CompanyID: e.co, DatasetID: queued[0].ID, Actor: store.ActorCoordinator,
		To: dataset.NotSupported, Now: e.clock.Now(), Message: "test"}); err != nil {
		t.Fatal(err)
	}
	ag, _ := e.connect(cred, all(conn))
	d, err := e.st.QueueDataset(t.Context(), store.QueueRequest{ID: "ds-again", CompanyID: e.co, ConnectionID: conn,
		DataType: queued[0].DataType, Now: e.clock.Now(), Message: "queued"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if m := ag.expect(protocol.TypeOffer); m.Offer.DatasetID == d.ID {
			break
		}
	}
}
