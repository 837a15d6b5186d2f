package storetest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func rollout(version string, status store.RolloutStatus, sec int) store.Rollout {
	return store.Rollout{Version: version, Status: status, CanaryCount: 1, MaxInFlight: 2, HaltOnFailure: true, Created: at(sec),
		Members: []store.RolloutMember{{AgentID: "ag-1", Canary: true, Status: store.MemberPending}}}
}

// testRollouts: a rollout is stored and read back whole; while one is
// Running or Paused no other is created, and of concurrent creations one
// wins; once it halted or completed, another version's, or the same
// version's again, is; updates keep the version; malformed ones are
// refused.
func testRollouts(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	if _, err := s.Rollout(ctx, "1.1.0"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Rollout of none = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateRollout(ctx, "1.1.0", func(*store.Rollout) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateRollout of none = %v, want ErrNotFound", err)
	}
	// Concurrent creations: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, v := range []string{"1.1.0", "1.2.0", "1.3.0", "1.4.0"} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.CreateRollout(ctx, rollout(v, store.RolloutRunning, i)) }()
	}
	wg.Wait()
	won := ""
	for i, err := range errs {
		switch {
		case err == nil && won == "":
			won = []string{"1.1.0", "1.2.0", "1.3.0", "1.4.0"}[i]
		case err == nil:
			t.Fatalf("two concurrent rollouts were created: %v", errs)
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("CreateRollout concurrent: %v, want ErrExists", err)
		}
	}
	if won == "" {
		t.Fatalf("no concurrent rollout was created: %v", errs)
	}
	got, err := s.Rollout(ctx, won)
	if err != nil || got.Status != store.RolloutRunning || len(got.Members) != 1 || !got.Members[0].Canary || !got.Created.Equal(at(0)) && !got.Created.After(at(0)) {
		t.Fatalf("Rollout(%s) = %+v, %v", won, got, err)
	}
	// Paused: still active.
	if _, err := s.UpdateRollout(ctx, won, func(r *store.Rollout) error { r.Status = store.RolloutPaused; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRollout(ctx, rollout("2.0.0", store.RolloutRunning, 10)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateRollout while one is paused = %v, want ErrExists", err)
	}
	// Halted: another may start, and the same version again.
	asked := at(20)
	r, err := s.UpdateRollout(ctx, won, func(r *store.Rollout) error {
		r.Status, r.HaltReason = store.RolloutHalted, "agent ag-1 failed"
		r.Members[0].Status, r.Members[0].Asked, r.Members[0].Reason = store.MemberFailed, asked, "RolledBack"
		return nil
	})
	if err != nil || r.Status != store.RolloutHalted || r.Members[0].Status != store.MemberFailed || !r.Members[0].Asked.Equal(asked) {
		t.Fatalf("UpdateRollout halt = %+v, %v", r, err)
	}
	if err := s.CreateRollout(ctx, rollout("2.0.0", store.RolloutRunning, 30)); err != nil {
		t.Fatalf("CreateRollout after a halt: %v", err)
	}
	if _, err := s.UpdateRollout(ctx, "2.0.0", func(r *store.Rollout) error { r.Status = store.RolloutComplete; return nil }); err != nil {
		t.Fatal(err)
	}
	again := rollout(won, store.RolloutRunning, 40)
	again.CanaryCount = 3
	if err := s.CreateRollout(ctx, again); err != nil {
		t.Fatalf("CreateRollout of %s again: %v", won, err)
	}
	if got, err := s.Rollout(ctx, won); err != nil || got.CanaryCount != 3 || got.Status != store.RolloutRunning || got.Members[0].Status != store.MemberPending {
		t.Fatalf("Rollout(%s) after it started again = %+v, %v", won, got, err)
	}
	all, err := s.Rollouts(ctx)
	if err != nil || len(all) != 2 || all[0].Version != "2.0.0" || all[1].Version != won {
		t.Fatalf("Rollouts = %+v, %v; want 2.0.0 then %s", all, err, won)
	}
	// Refused: a malformed rollout, a change of version, a bad status.
	for _, bad := range []store.Rollout{
		{Version: "x", Status: store.RolloutRunning, MaxInFlight: 1},
		{Version: "3.0.0", Status: store.RolloutRunning, MaxInFlight: 0},
		{Version: "3.0.0", Status: "Sleeping", MaxInFlight: 1},
		{Version: "3.0.0", Status: store.RolloutRunning, MaxInFlight: 1, CanaryCount: -1},
	} {
		if err := s.CreateRollout(ctx, bad); err == nil || errors.Is(err, store.ErrExists) {
			t.Errorf("CreateRollout(%+v) = %v, want it refused as malformed", bad, err)
		}
	}
	if _, err := s.UpdateRollout(ctx, won, func(r *store.Rollout) error { r.Version = "9.9.9"; return nil }); err == nil {
		t.Error("UpdateRollout changed the version")
	}
	if _, err := s.UpdateRollout(ctx, won, func(r *store.Rollout) error { r.Status = "Sleeping"; return nil }); err == nil {
		t.Error("UpdateRollout stored an unknown status")
	}
}

// testUpdateAskFeed: an update asked of an agent is on the feed, once per
// ask (asked again: again); other changes of the agent are not.
func testUpdateAskFeed(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	mustAgent(f, "ag-1")
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	update := func(fn func(*store.Agent)) {
		t.Helper()
		if _, err := s.UpdateAgent(ctx, "ag-1", func(a *store.Agent) error { fn(a); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	update(func(a *store.Agent) { a.UpdateAsk = &store.UpdateAsk{Version: "1.1.0", Reason: "rollout", At: at(1)} })
	update(func(a *store.Agent) {
		a.Update = &store.AgentUpdate{Version: "1.1.0", Status: store.UpdateUpdating, At: at(2)}
		a.UpdatePolicy = store.UpdatePinned
	})
	update(func(a *store.Agent) { a.UpdateAsk = &store.UpdateAsk{Version: "1.1.0", Reason: "rollout", At: at(3)} })
	got, err := s.Agent(ctx, "ag-1")
	if err != nil || got.Update == nil || got.Update.Status != store.UpdateUpdating || got.UpdatePolicy != "pinned" || !got.UpdateAsk.At.Equal(at(3)) {
		t.Fatalf("Agent after the updates = %+v, %v", got, err)
	}
	if _, err := s.UpdateAgent(ctx, "ag-1", func(a *store.Agent) error { a.UpdatePolicy = "sometimes"; return nil }); err == nil {
		t.Error("UpdateAgent stored an unknown update policy")
	}
	var changes []store.UpdateChange
	for len(changes) < 2 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("feed after %d update asks: %v", len(changes), err)
		}
		for _, c := range cs {
			changes = append(changes, c.Updates...)
		}
	}
	want := store.UpdateChange{AgentID: "ag-1", Version: "1.1.0", Reason: "rollout"}
	if len(changes) != 2 || changes[0] != want || changes[1] != want {
		t.Errorf("feed's update asks = %+v; want two of %+v", changes, want)
	}
}
