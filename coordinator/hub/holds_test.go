package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// twoConnections links two connections to one agent and connects it;
// nothing is queued on first link.
func (e *env) twoConnections() (held, free string, a *agent) {
	e.t.Helper()
	e.nothingOnFirstLink()
	held, cred := e.linked()
	free, code := e.connection(e.co)
	e.link(code, cred)
	a, _ = e.connect(cred, append(all(held), all(free)...))
	return held, free, a
}

// offersUntil reads the offers until one of marker arrives and returns
// the datasets offered before it.
func (a *agent) offersUntil(marker string) []string {
	a.t.Helper()
	var before []string
	for {
		m := a.expect(protocol.TypeOffer)
		if m.Offer.DatasetID == marker {
			return before
		}
		before = append(before, m.Offer.DatasetID)
	}
}

// notOffered queues two markers on the free connection, one after the
// other's offer arrived: every pass that saw id queued has ended by then,
// so id was held if it did not come before the second.
func (e *env) notOffered(a *agent, free, id, marker string) {
	e.t.Helper()
	e.queueInStore(free, marker+"-1", dataset.Invoices)
	a.offersUntil(marker + "-1")
	e.queueInStore(free, marker+"-2", dataset.Bills)
	for _, got := range a.offersUntil(marker + "-2") {
		if got == id {
			e.t.Fatalf("%s was offered while held", id)
		}
	}
	if m := a.claim(id); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeNotQueued || !strings.Contains(m.Error.Message, "paused or outside its sync window") {
		e.t.Fatalf("claim of held %s: %+v, want not_queued, paused or outside its sync window", id, m)
	}
	e.endFree(a, free, marker+"-1", marker+"-2")
}

// endFree claims and fails the markers, so the free connection can queue
// their types again.
func (e *env) endFree(a *agent, free string, ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		m := a.claim(id)
		if m.Type != protocol.TypeClaimed {
			e.t.Fatalf("claim %s: %+v", id, m)
		}
		a.report(m.Claimed, dataset.FetchError, m.Claimed.LeaseID)
	}
}

// TestPauseHoldsOffers: a paused connection's queued work is neither
// offered nor claimable (an offer made before the pause included); the
// resume, written to the store by anyone, offers it at once.
func TestPauseHoldsOffers(t *testing.T) {
	e := newEnv(t)
	held, free, a := e.twoConnections()
	e.queueInStore(held, "ds-held", dataset.Customers)
	if m := a.expect(protocol.TypeOffer); m.Offer.DatasetID != "ds-held" {
		t.Fatalf("offer %+v, want ds-held", m.Offer)
	}
	pause := func(since time.Time) {
		t.Helper()
		if _, err := e.st.UpdateConnection(t.Context(), e.co, held, func(c *store.Connection) error { c.PausedSince = since; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	pause(e.clock.Now())
	e.notOffered(a, free, "ds-held", "paused")
	pause(time.Time{})
	a.offersUntil("ds-held")
	if m := a.claim("ds-held"); m.Type != protocol.TypeClaimed {
		t.Fatalf("claim after resume: %+v", m)
	}
}

// TestWindowHoldsOffers: work outside its window waits; a company's
// window moved to include now (Change.SyncWindows) offers it at once, and
// so does the connection's own window overriding the client's.
func TestWindowHoldsOffers(t *testing.T) {
	e := newEnv(t)
	held, free, a := e.twoConnections()
	// The test's clock is Sunday 1 March 2026, 09:00 UTC. The free
	// connection has its own window: any time.
	if _, err := e.st.UpdateConnection(t.Context(), e.co, free, func(c *store.Connection) error {
		c.SyncWindow = &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	closed := &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "19:00", End: "07:00"}}}
	if err := e.st.SetProfileSyncWindow(t.Context(), closed); err != nil {
		t.Fatal(err)
	}
	e.queueInStore(held, "ds-held", dataset.Customers)
	e.notOffered(a, free, "ds-held", "client-window")

	open := &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{{Days: []string{"Sun"}, Start: "08:00", End: "10:00"}}}
	if _, err := e.st.UpdateCompany(t.Context(), e.co, func(c *store.Company) error { c.SyncWindow = open; return nil }); err != nil {
		t.Fatal(err)
	}
	a.offersUntil("ds-held")
	if m := a.claim("ds-held"); m.Type != protocol.TypeClaimed {
		t.Fatalf("claim inside the window: %+v", m)
	}
}

// TestWindowOpeningOffers: held work is offered when its window opens,
// by the write loop's own timer, with nothing else happening. The hub's
// clock runs at real speed from 300 ms before an opening: on a Monday
// evening; at midnight, the day changing as the window opens; and the
// night London's clocks go forward (29 March 2026, 01:00 UTC), when a
// window from 02:00 London time opens at 01:00 UTC, an hour before
// 02:00 GMT would.
func TestWindowOpeningOffers(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		opens time.Time
		span  store.Window
	}{
		{"a Monday evening", time.Date(2026, 12, 7, 19, 0, 0, 0, london), store.Window{Days: []string{"Mon"}, Start: "19:00", End: "07:00"}},
		{"at midnight", time.Date(2026, 12, 7, 0, 0, 0, 0, london), store.Window{Days: []string{"Mon"}, Start: "00:00", End: "06:00"}},
		{"clocks going forward", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), store.Window{Days: []string{"Sun"}, Start: "02:00", End: "04:00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			offset := tt.opens.Add(-300 * time.Millisecond).Sub(start)
			e := newEnvWith(t, func(c *Config) {
				c.Now = func() time.Time { return time.Now().Add(offset) }
				c.SweepInterval = time.Hour // no sweep to stand in for the timer
			})
			e.clock.Add(start.Add(offset).Sub(e.clock.Now())) // the link codes' and the queue's clock
			e.nothingOnFirstLink()
			conn, cred := e.linked()
			if err := e.st.SetProfileSyncWindow(t.Context(), &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{tt.span}}); err != nil {
				t.Fatal(err)
			}
			e.queueInStore(conn, "ds-held", dataset.Customers)
			a, _ := e.connect(cred, all(conn))
			if m := a.expect(protocol.TypeOffer); m.Offer.DatasetID != "ds-held" {
				t.Fatalf("offer %+v, want ds-held", m.Offer)
			}
			if offered := time.Now().Add(offset); offered.Before(tt.opens) {
				t.Errorf("offered at %s, before the window opened at %s", offered.UTC(), tt.opens.UTC())
			}
		})
	}
}

// TestRunningWorkFinishesWhenHeld: a dataset claimed before its
// connection is paused, or before its window closes, goes on: its
// reports are taken as before.
func TestRunningWorkFinishesWhenHeld(t *testing.T) {
	closed := &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Tue"}, Start: "01:00", End: "02:00"}}}
	for _, tt := range []struct {
		name string
		hold func(*store.Connection)
	}{
		{"paused", func(c *store.Connection) { c.PausedSince = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }},
		{"window closed", func(c *store.Connection) { c.SyncWindow = closed }}, // the test's clock is a Sunday
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.nothingOnFirstLink()
			conn, cred := e.linked()
			a, _ := e.connect(cred, all(conn))
			e.queueInStore(conn, "ds-running", dataset.Customers)
			a.offersUntil("ds-running")
			c := a.claim("ds-running").Claimed
			if c == nil {
				t.Fatal("the claim was refused")
			}
			if _, err := e.st.UpdateConnection(t.Context(), e.co, conn, func(cn *store.Connection) error { tt.hold(cn); return nil }); err != nil {
				t.Fatal(err)
			}
			if m := a.report(c, dataset.Mapping, c.LeaseID); m.Type != protocol.TypeAck {
				t.Fatalf("report Mapping once held: %+v", m)
			}
			m := a.reply(protocol.Message{Type: protocol.TypeReport, ID: uuid.NewString(), Report: &protocol.Report{
				CompanyID: c.CompanyID, DatasetID: c.DatasetID, LeaseID: c.LeaseID, To: dataset.Mapping, Progress: 50}})
			if m.Type != protocol.TypeAck {
				t.Fatalf("report progress once held: %+v", m)
			}
			if d := e.dataset("ds-running"); d.Status != dataset.Mapping || d.Progress != 50 {
				t.Errorf("the running dataset is %s at %d%%, want Mapping at 50%%", d.Status, d.Progress)
			}
		})
	}
}
