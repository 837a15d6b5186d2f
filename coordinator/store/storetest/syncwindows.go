package storetest

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// syncWindowTests are the tests of sync windows and pauses.
var syncWindowTests = []struct {
	name string
	run  func(*fixture)
}{
	{"SyncGate", testSyncGate},
	{"SyncWindowFeed", testSyncWindowFeed},
}

// testSyncGate: the client's window is kept and removed; SyncGate reads
// a connection's pause and the narrowest window set, whole.
func testSyncGate(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	nights := &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{{Days: []string{"Mon", "Tue"}, Start: "19:00", End: "07:00"}}}
	paris := &store.SyncWindow{TimeZone: "Europe/Paris", Windows: []store.Window{}}
	utc := &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Sun"}, Start: "00:00", End: "00:00"}}}
	f.linked("co", "cn", "ag")
	gate := func(what string, src store.WindowSource, want *store.SyncWindow, paused time.Time) {
		t.Helper()
		g, err := s.SyncGate(ctx, "cn")
		if err != nil || g.ConnectionID != "cn" || g.CompanyID != "co" || g.Source != src || !store.SameWindow(g.Window, want) || !g.PausedSince.Equal(paused) {
			t.Errorf("%s: SyncGate = %+v, %v; want the %s's window %+v, paused since %v", what, g, err, src, want, paused)
		}
	}
	gate("nothing set", store.WindowNone, nil, time.Time{})
	if w, err := s.ProfileSyncWindow(ctx); w != nil || err != nil {
		t.Errorf("ProfileSyncWindow before any = %+v, %v; want nil", w, err)
	}
	if err := s.SetProfileSyncWindow(ctx, &store.SyncWindow{TimeZone: "Mars/Olympus"}); err == nil {
		t.Error("SetProfileSyncWindow took an unknown zone")
	}
	noErr(f, "SetProfileSyncWindow", s.SetProfileSyncWindow(ctx, nights))
	if w, err := s.ProfileSyncWindow(ctx); err != nil || !store.SameWindow(w, nights) {
		t.Errorf("ProfileSyncWindow = %+v, %v; want %+v", w, err, nights)
	}
	gate("the client's", store.WindowOfClient, nights, time.Time{})
	_, err := s.UpdateCompany(ctx, "co", func(c *store.Company) error { c.SyncWindow = paris; return nil })
	noErr(f, "UpdateCompany", err)
	gate("the company's, empty, over the client's", store.WindowOfCompany, paris, time.Time{})
	_, err = s.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error {
		c.SyncWindow, c.PausedSince = utc, at(5)
		return nil
	})
	noErr(f, "UpdateConnection", err)
	gate("the connection's, paused", store.WindowOfConnection, utc, at(5))
	c, err := s.Connection(ctx, "co", "cn")
	if err != nil || !store.SameWindow(c.SyncWindow, utc) || !c.PausedSince.Equal(at(5)) {
		t.Errorf("Connection = %+v, %v; want its window and pause kept", c, err)
	}
	_, err = s.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error {
		c.SyncWindow, c.PausedSince = nil, time.Time{}
		return nil
	})
	noErr(f, "UpdateConnection", err)
	gate("the connection's removed", store.WindowOfCompany, paris, time.Time{})
	noErr(f, "SetProfileSyncWindow", s.SetProfileSyncWindow(ctx, nil))
	if w, err := s.ProfileSyncWindow(ctx); w != nil || err != nil {
		t.Errorf("ProfileSyncWindow after removing = %+v, %v; want nil", w, err)
	}
	if _, err := s.SyncGate(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SyncGate of a missing connection: %v; want ErrNotFound", err)
	}
	if _, err := s.SyncGate(ctx, "bad/id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SyncGate of a malformed id: %v; want ErrNotFound", err)
	}
}

// testSyncWindowFeed: a connection paused, resumed or given its own
// window is a ConnectionChange with its status unchanged; a company's or
// the client's window changed is SyncWindows; setting the same again
// publishes nothing.
func testSyncWindowFeed(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	f.linked("co", "cn", "ag")
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	// A replicated backend may publish the connection's creation after
	// the subscription (its notification comes back later): skip it.
	var buf []store.Change
	next := func(what string) store.Change {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			for len(buf) > 0 {
				c := buf[0]
				buf = buf[1:]
				if len(c.Connections) != 1 || c.Connections[0].From != "" {
					return c
				}
			}
			cs, err := sub.Next(wctx)
			if err != nil {
				t.Fatalf("%s: Next: %v", what, err)
			}
			buf = cs
		}
	}
	linked := store.ConnectionChange{ID: "cn", CompanyID: "co", From: store.Linked, To: store.Linked, AgentID: "ag"}
	for _, step := range []struct {
		what string
		fn   func(*store.Connection)
	}{
		{"pause", func(c *store.Connection) { c.PausedSince = at(1) }},
		{"resume", func(c *store.Connection) { c.PausedSince = time.Time{} }},
		{"own window", func(c *store.Connection) {
			c.SyncWindow = &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{}}
		}},
	} {
		_, err := s.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error { step.fn(c); return nil })
		noErr(f, step.what, err)
		if c := next(step.what); len(c.Connections) != 1 || c.Connections[0] != linked || c.SyncWindows {
			t.Errorf("%s: %+v, want the connection, Linked to Linked", step.what, c)
		}
	}
	w := &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon"}, Start: "01:00", End: "02:00"}}}
	_, err := s.UpdateCompany(ctx, "co", func(c *store.Company) error { c.SyncWindow = w; return nil })
	noErr(f, "UpdateCompany", err)
	if c := next("company window"); !c.SyncWindows || len(c.Connections) != 0 {
		t.Errorf("company window: %+v, want SyncWindows", c)
	}
	noErr(f, "SetProfileSyncWindow", s.SetProfileSyncWindow(ctx, w))
	if c := next("client window"); !c.SyncWindows {
		t.Errorf("client window: %+v, want SyncWindows", c)
	}
	noErr(f, "SetProfileSyncWindow", s.SetProfileSyncWindow(ctx, w))
	_, err = s.UpdateCompany(ctx, "co", func(c *store.Company) error { c.Name = "renamed"; return nil })
	noErr(f, "UpdateCompany", err)
	_, err = s.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error { c.PausedSince = at(9); return nil })
	noErr(f, "UpdateConnection", err)
	if c := next("the same window again, a rename, a pause"); len(c.Connections) != 1 || c.SyncWindows {
		t.Errorf("after the same window again and a rename: %+v; want the pause next, they publish nothing", c)
	}
}
