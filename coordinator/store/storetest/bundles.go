package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// testBundles checks support bundles: requested, uploaded once, listed
// newest first without archives, read back, refused when unknown, and
// pruned; each request on the feed.
func testBundles(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	mustAgent(f, "ag-1")
	mustAgent(f, "ag-2")
	req := func(agent, id string, sec int) store.SupportBundle {
		return store.SupportBundle{AgentID: agent, ID: id, Requested: at(sec)}
	}
	if err := s.RequestBundle(ctx, req("ag-none", "b0", 0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestBundle(missing agent): %v, want ErrNotFound", err)
	}
	for _, b := range []store.SupportBundle{req("ag-1", "b1", 100), req("ag-1", "b2", 110), req("ag-2", "b3", 120)} {
		if err := s.RequestBundle(ctx, b); err != nil {
			t.Fatalf("RequestBundle(%s): %v", b.ID, err)
		}
	}
	if err := s.RequestBundle(ctx, req("ag-1", "b1", 130)); !errors.Is(err, store.ErrExists) {
		t.Errorf("RequestBundle(b1 again): %v, want ErrExists", err)
	}
	if _, _, err := s.BundleArchive(ctx, "ag-1", "b1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BundleArchive(not uploaded): %v, want ErrNotFound", err)
	}
	archive := bytes.Repeat([]byte("tar"), 1000)
	if err := s.PutBundle(ctx, "ag-1", "b1", at(105), archive); err != nil {
		t.Fatalf("PutBundle(b1): %v", err)
	}
	if err := s.PutBundle(ctx, "ag-1", "b1", at(106), []byte("other")); !errors.Is(err, store.ErrExists) {
		t.Errorf("PutBundle(b1 again): %v, want ErrExists", err)
	}
	for _, c := range []struct{ agent, id string }{{"ag-2", "b1"}, {"ag-1", "none"}, {"ag-1", "a/b"}} {
		if err := s.PutBundle(ctx, c.agent, c.id, at(106), archive); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutBundle(%s, %s): %v, want ErrNotFound", c.agent, c.id, err)
		}
		if _, _, err := s.BundleArchive(ctx, c.agent, c.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("BundleArchive(%s, %s): %v, want ErrNotFound", c.agent, c.id, err)
		}
	}
	if err := s.PutBundle(ctx, "ag-1", "b2", at(111), make([]byte, store.MaxBundleBytes+1)); err == nil {
		t.Error("PutBundle over MaxBundleBytes: nil error")
	}
	got, data, err := s.BundleArchive(ctx, "ag-1", "b1")
	if err != nil || !bytes.Equal(data, archive) || got.Size != int64(len(archive)) || !got.Uploaded.Equal(at(105)) ||
		!got.Requested.Equal(at(100)) || got.ID != "b1" || got.AgentID != "ag-1" {
		t.Errorf("BundleArchive(b1) = %+v, %d bytes, %v; want b1 requested at 100, uploaded at 105, %d bytes",
			got, len(data), err, len(archive))
	}
	list, err := s.Bundles(ctx, "ag-1")
	if err != nil || len(list) != 2 || list[0].ID != "b2" || list[1].ID != "b1" || !list[0].Uploaded.IsZero() ||
		list[1].Size != int64(len(archive)) {
		t.Errorf("Bundles(ag-1) = %+v, %v; want b2 (waiting), b1 (uploaded)", list, err)
	}
	if list, err := s.Bundles(ctx, "ag-none"); err != nil || len(list) != 0 {
		t.Errorf("Bundles(unknown agent) = %+v, %v; want none", list, err)
	}
	if n, err := s.PruneBundles(ctx, at(115)); err != nil || n != 2 {
		t.Errorf("PruneBundles(115) = %d, %v; want 2 (b1, b2)", n, err)
	}
	if list, _ := s.Bundles(ctx, "ag-1"); len(list) != 0 {
		t.Errorf("Bundles(ag-1) after prune = %+v; want none", list)
	}
	if list, _ := s.Bundles(ctx, "ag-2"); len(list) != 1 || list[0].ID != "b3" {
		t.Errorf("Bundles(ag-2) after prune = %+v; want b3", list)
	}
	var changes []store.BundleChange
	for len(changes) < 3 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("feed after %d bundle changes: %v", len(changes), err)
		}
		for _, c := range cs {
			changes = append(changes, c.Bundles...)
		}
	}
	want := []store.BundleChange{{AgentID: "ag-1", ID: "b1"}, {AgentID: "ag-1", ID: "b2"}, {AgentID: "ag-2", ID: "b3"}}
	if !slices.Equal(changes, want) {
		t.Errorf("feed's bundle changes:\n got %+v\nwant %+v", changes, want)
	}
}

// testLogLevelFeed checks that an agent update that changes its raised
// log level is on the feed, and one that changes anything else is not.
func testLogLevelFeed(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	mustAgent(f, "ag-1")
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	until := at(1800)
	update := func(fn func(*store.Agent)) {
		t.Helper()
		if _, err := s.UpdateAgent(ctx, "ag-1", func(a *store.Agent) error { fn(a); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	update(func(a *store.Agent) { a.Hostname = "pc" })
	update(func(a *store.Agent) { a.LogLevel, a.LogLevelUntil = "debug", until })
	update(func(a *store.Agent) { a.Version = "2.0" })
	update(func(a *store.Agent) { a.LogLevel, a.LogLevelUntil = "", time.Time{} })
	got, err := s.Agent(ctx, "ag-1")
	if err != nil || got.LogLevel != "" || !got.LogLevelUntil.IsZero() || got.Version != "2.0" {
		t.Errorf("Agent after the updates = %+v, %v", got, err)
	}
	var changes []store.LogLevelChange
	for len(changes) < 2 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("feed after %d log level changes: %v", len(changes), err)
		}
		for _, c := range cs {
			changes = append(changes, c.LogLevels...)
		}
	}
	if len(changes) != 2 || changes[0].AgentID != "ag-1" || changes[0].Level != "debug" || !changes[0].Until.Equal(until) ||
		changes[1].Level != "" || !changes[1].Until.IsZero() {
		t.Errorf("feed's log level changes = %+v; want debug until 1800, then none", changes)
	}
}
