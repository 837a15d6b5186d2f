package hub

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// nothingOnFirstLink makes a link queue nothing, so that an agent's only
// offers are those of the test.
func (e *env) nothingOnFirstLink() {
	e.t.Helper()
	list := store.DefaultSyncSettings()
	for i := range list {
		list[i].FetchOnFirstLink = false
	}
	if err := e.st.SetProfileSyncSettings(e.t.Context(), list); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) queueInStore(conn, id string, dt dataset.DataType) {
	e.t.Helper()
	_, err := e.st.QueueDataset(e.t.Context(), store.QueueRequest{ID: id, CompanyID: e.co, ConnectionID: conn,
		DataType: dt, Now: e.clock.Now(), Message: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestOfferFromTheFeed: a dataset queued by any writer of the store (here
// the store itself, no queuer) is offered to the online agent at once.
func TestOfferFromTheFeed(t *testing.T) {
	e := newEnv(t)
	e.nothingOnFirstLink()
	conn, cred := e.linked()
	e.queueInStore(conn, "ds-before", dataset.Bills)
	a, _ := e.connect(cred, all(conn))
	// The offers made on connect are over: only the feed offers more.
	if m := a.expect(protocol.TypeOffer); m.Offer.DatasetID != "ds-before" {
		t.Fatalf("offer on connect %+v, want ds-before", m.Offer)
	}
	e.queueInStore(conn, "ds-feed", dataset.Invoices)
	for {
		// ds-before comes again with every pass over the queued work.
		if m := a.expect(protocol.TypeOffer); m.Offer.DatasetID == "ds-feed" {
			break
		}
	}
}

// TestGapRechecksAgents: after a gap in the feed (here a jump in the
// sequence of a feed that is not the store's, so the hub hears nothing of
// the store's changes), the hub offers what is queued and revokes what is
// no longer linked, from the store.
func TestGapRechecksAgents(t *testing.T) {
	feed := store.NewFeed(16)
	e := newEnvWith(t, func(c *Config) { c.Feed = feed })
	e.nothingOnFirstLink()
	conn, cred := e.linked()
	_, w := e.connect(cred, all(conn))
	gone, _ := e.connection(e.co)
	update := func(fn func(*store.Connection)) {
		t.Helper()
		if _, err := e.st.UpdateConnection(t.Context(), e.co, gone, func(c *store.Connection) error { fn(c); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	update(func(c *store.Connection) { c.Status, c.AgentID = store.Linked, w.AgentID })
	a, _ := e.connect(cred, append(all(conn), all(gone)...))
	update(func(c *store.Connection) { c.Status = store.Unlinked })
	e.queueInStore(conn, "ds-gap", dataset.Invoices)
	if err := feed.PublishAt(store.Change{Seq: 10}); err != nil {
		t.Fatal(err)
	}
	var revoked, offered bool
	for !revoked || !offered {
		_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, raw, err := a.ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the revocation (%v) and the offer (%v): %v", revoked, offered, err)
		}
		m, err := protocol.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case protocol.TypeRevoked:
			if m.Revoked.ConnectionID != gone || m.Revoked.Reason != "unlinked by the client" {
				t.Errorf("revoked %+v, want %s unlinked by the client", m.Revoked, gone)
			}
			revoked = true
		case protocol.TypeOffer:
			if m.Offer.DatasetID != "ds-gap" {
				t.Errorf("offer %+v, want ds-gap", m.Offer)
			}
			offered = true
		}
	}
}

// TestConcerns: the feed wakes the hub's loop for every change apply acts
// on, and not for a dataset moving between the steps of its run (claimed,
// mapping, validating, processing), most of a busy coordinator's commits.
func TestConcerns(t *testing.T) {
	moved := func(to dataset.Status) []store.DatasetChange {
		return []store.DatasetChange{{ID: "ds", CompanyID: "co", ConnectionID: "conn", DataType: dataset.Bills, To: to}}
	}
	for _, tc := range []struct {
		name string
		c    store.Change
		want bool
	}{
		{"queued", store.Change{Datasets: moved(dataset.Queued)}, true},
		{"complete", store.Change{Datasets: moved(dataset.Complete)}, true},
		{"fetch error", store.Change{Datasets: moved(dataset.FetchError)}, true},
		{"channel", store.Change{Channels: []store.ChannelChange{{AgentID: "a"}}}, true},
		{"revoked agent", store.Change{RevokedAgents: []string{"a"}}, true},
		{"diagnostics", store.Change{Diagnostics: []store.DiagnosticsChange{{AgentID: "a"}}}, true},
		{"bundle", store.Change{Bundles: []store.BundleChange{{AgentID: "a"}}}, true},
		{"log level", store.Change{LogLevels: []store.LogLevelChange{{AgentID: "a"}}}, true},
		{"update", store.Change{Updates: []store.UpdateChange{{}}}, true},
		{"connection", store.Change{Connections: []store.ConnectionChange{{ID: "conn"}}}, true},
		{"sync windows", store.Change{SyncWindows: true}, true},
		{"fetching", store.Change{Datasets: moved(dataset.Fetching)}, false},
		{"mapping", store.Change{Datasets: moved(dataset.Mapping)}, false},
		{"validating", store.Change{Datasets: moved(dataset.Validating)}, false},
		{"processing", store.Change{Datasets: moved(dataset.Processing)}, false},
		{"deliveries", store.Change{Deliveries: 1}, false},
		{"sync due", store.Change{SyncDue: time.Now()}, false},
	} {
		if got := concerns(tc.c); got != tc.want {
			t.Errorf("%s: concerns = %v, want %v", tc.name, got, tc.want)
		}
	}
}
