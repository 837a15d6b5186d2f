package hub

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// presenceOutbox returns the presence webhook deliveries in the outbox once
// there are at least n, failing after a deadline.
func presenceOutbox(t *testing.T, st *badgerstore.Badger, n int) []store.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := st.DueDeliveries(t.Context(), time.Now().Add(24*365*time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence deliveries: got %d, want %d", len(ds), n)
		}
		time.Sleep(10 * time.Millisecond) // polling the store, with a deadline
	}
}

func countTypes(ds []store.Delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[d.Event.Type]++
	}
	return out
}

// TestPresence: recording an agent's Connected and Disconnected events puts
// the presence webhooks of its connections in the outbox (no other path
// does). Its live connection reports them online; a newer connection
// replacing it reports online again and nothing offline for the old one;
// the live one ending reports them offline; the hub closing does not. Each
// event's id is derived from the agent event that carries it.
func TestPresence(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	q := queue.New(st)
	q.Now = clk.Now
	h := New(Config{Store: st, Queuer: q, Feed: st.Feed(), Logger: slog.New(slog.DiscardHandler), Now: clk.Now, ExpiryInterval: time.Hour})
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer st.Close()
	defer srv.Close()
	e := &env{t: t, st: st, hub: h, q: q, clock: clk, url: srv.URL, co: "co-1"}
	if err := st.CreateCompany(t.Context(), store.Company{ID: e.co, Name: "Acme", Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(t.Context(), store.Webhook{ID: "wh-1", URL: "https://hooks.example/p", Secret: "s",
		EventTypes: []string{store.EventConnectionConnected, store.EventConnectionDisconnected}, Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	conn, cred := e.linked()

	a1, w1 := e.connect(cred, all(conn))
	got := presenceOutbox(t, st, 1)
	if got[0].Event.Type != store.EventConnectionConnected || got[0].Event.ConnectionID != conn ||
		got[0].Event.AgentID != w1.AgentID || got[0].Event.CompanyName != "Acme" {
		t.Fatalf("after connecting: %+v", got[0].Event)
	}
	a2, _ := e.connect(cred, all(conn)) // replaces a1
	if c := countTypes(presenceOutbox(t, st, 2)); c[store.EventConnectionConnected] != 2 {
		t.Fatalf("after a newer connection: %v", c)
	}
	_ = a1.ws.Close()
	_ = a2.ws.Close()
	if c := countTypes(presenceOutbox(t, st, 3)); c[store.EventConnectionDisconnected] != 1 {
		t.Fatalf("after the live connection closed: %v", c)
	}
	a3, _ := e.connect(cred, all(conn))
	presenceOutbox(t, st, 4)
	h.Close() // waits for the connection handlers: every event is recorded
	_ = a3.ws.Close()

	final := presenceOutbox(t, st, 4)
	if c := countTypes(final); len(final) != 4 || c[store.EventConnectionConnected] != 3 {
		t.Errorf("presence events %v: the superseded connection or the hub closing reported offline", c)
	}
	evs, err := st.AgentEvents(t.Context(), w1.AgentID)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		for _, c := range ev.Connections {
			ids[store.PresenceEventID(ev.ID, c)] = true
		}
	}
	for _, d := range final {
		if !ids[d.Event.ID] {
			t.Errorf("presence event %s (%s) comes from no agent event", d.Event.ID, d.Event.Type)
		}
	}
}
