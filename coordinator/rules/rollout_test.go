package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func allUpdate(store.Agent) bool { return true }

func statuses(r store.Rollout) string {
	s := ""
	for _, m := range r.Members {
		s += fmt.Sprintf("%s:%s ", m.AgentID, m.Status)
	}
	return s
}

// TestStepRollout walks a rollout through its passes: canaries first,
// then the rest within maxInFlight, the offline agent left pending, a
// busy one asked again after retry, a pinned one dropped, a failure
// halting it; and a paused one withdrawing its asks.
func TestStepRollout(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	agents := map[string]store.Agent{}
	for _, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		agents[id] = store.Agent{ID: id, Version: "1.0.0"}
	}
	agents["pinned"] = store.Agent{ID: "pinned", Version: "1.0.0", UpdatePolicy: store.UpdatePinned}
	agents["new"] = store.Agent{ID: "new", Version: "1.1.0"}
	agents["gone"] = store.Agent{ID: "gone", Version: "1.0.0", Revoked: t0}
	online := map[string]bool{"a1": true, "a2": true, "a3": true, "a4": true, "pinned": true}
	list := []store.Agent{agents["a5"], agents["a1"], agents["a2"], agents["a3"], agents["a4"], agents["pinned"], agents["new"], agents["gone"]}
	r := NewRollout("1.1.0", 1, 2, true, list, online, allUpdate, t0)
	if got := statuses(r); got != "a1:Pending a2:Pending a3:Pending a4:Pending a5:Pending " || !r.Members[0].Canary || r.Members[1].Canary {
		t.Fatalf("new rollout %s (canary %v); want a1 the canary, the offline a5 last", got, r.Members[0].Canary)
	}
	step := func(at time.Duration, wantAsk ...string) Step {
		t.Helper()
		st := StepRollout(&r, agents, online, allUpdate, t0.Add(at), Pace{Retry: 30 * time.Second, Deadline: time.Hour})
		if !slices.Equal(st.Ask, wantAsk) {
			t.Fatalf("pass at %s: asked %v, want %v (%s)", at, st.Ask, wantAsk, statuses(r))
		}
		return st
	}
	report := func(id string, status store.UpdateState, at time.Duration) {
		a := agents[id]
		a.Update = &store.AgentUpdate{Version: "1.1.0", Status: status, At: t0.Add(at)}
		if status == store.UpdateUpdated {
			a.Version = "1.1.0"
		}
		agents[id] = a
	}
	step(0, "a1")
	step(time.Second)          // the canary alone, not yet retried
	step(31*time.Second, "a1") // busy: asked again
	report("a1", store.UpdateUpdating, 32*time.Second)
	step(70 * time.Second) // taken on: not asked again
	// The new version's hello: the agent runs 1.1.0, its UpdateSucceeded
	// not yet taken. The others wait for the canary's word.
	a1 := agents["a1"]
	a1.Version = "1.1.0"
	agents["a1"] = a1
	step(75 * time.Second)
	if got := statuses(r); !strings.HasPrefix(got, "a1:Updating ") {
		t.Fatalf("the canary runs the target before its success: %s, want a1 Updating", got)
	}
	report("a1", store.UpdateUpdated, 80*time.Second)
	step(81*time.Second, "a2", "a3") // then two at a time
	// a4 is pinned meanwhile: dropped while Pending.
	a4 := agents["a4"]
	a4.UpdatePolicy = store.UpdatePinned
	agents["a4"] = a4
	report("a2", store.UpdateUpdated, 90*time.Second)
	step(91 * time.Second) // a4 dropped, a5 offline
	if got := statuses(r); got != "a1:Updated a2:Updated a3:Updating a5:Pending " {
		t.Fatalf("after a4 was pinned: %s", got)
	}
	report("a3", store.UpdateRolledBack, 95*time.Second)
	step(96 * time.Second)
	if r.Status != store.RolloutHalted || r.HaltReason != "agent a3 failed: RolledBack" {
		t.Fatalf("after a3 rolled back: %s %q", r.Status, r.HaltReason)
	}
	online["a5"] = true
	step(200 * time.Second) // halted: nobody asked

	// Paused with an ask not taken on: withdrawn, Pending again; resumed,
	// asked again.
	agents = map[string]store.Agent{"a5": {ID: "a5", Version: "1.0.0"}}
	r = NewRollout("1.1.0", 0, 1, false, []store.Agent{agents["a5"]}, online, allUpdate, t0)
	step(300*time.Second, "a5")
	r.Status = store.RolloutPaused
	if st := step(301 * time.Second); !slices.Equal(st.Unask, []string{"a5"}) || r.Members[0].Status != store.MemberPending {
		t.Fatalf("paused: unasked %v, %s", st.Unask, statuses(r))
	}
	r.Status = store.RolloutRunning
	step(302*time.Second, "a5")
	report("a5", store.UpdateFailed, 303*time.Second)
	step(304 * time.Second)
	if r.Status != store.RolloutComplete || r.Members[0].Status != store.MemberFailed {
		t.Fatalf("without haltOnFailure, the last failed: %s %s; want Complete", r.Status, statuses(r))
	}
	// A failure older than the ask does not count.
	r = NewRollout("1.1.0", 0, 1, true, []store.Agent{agents["a5"]}, online, allUpdate, t0.Add(400*time.Second))
	step(400*time.Second, "a5")
	if r.Status != store.RolloutRunning || r.Members[0].Status != store.MemberUpdating {
		t.Fatalf("an old failure failed a new rollout: %s %s", r.Status, statuses(r))
	}
}

// TestRolloutTimeout: a member that took its update on and then said
// nothing within the deadline fails (its agent's update timed out),
// which halts a rollout with haltOnFailure and frees its place in flight
// in one without; the agent's late word replaces the timeout; a member
// asked that never took it on and stayed offline goes back to Pending.
func TestRolloutTimeout(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	const deadline = 12 * time.Minute
	pace := Pace{Retry: 30 * time.Second, Deadline: deadline}
	agents := map[string]store.Agent{"a1": {ID: "a1", Version: "1.0.0"}, "a2": {ID: "a2", Version: "1.0.0"}}
	online := map[string]bool{"a1": true, "a2": true}
	list := []store.Agent{agents["a1"], agents["a2"]}
	var r store.Rollout
	step := func(at time.Duration, wantAsk ...string) Step {
		t.Helper()
		st := StepRollout(&r, agents, online, allUpdate, t0.Add(at), pace)
		if !slices.Equal(st.Ask, wantAsk) {
			t.Fatalf("pass at %s: asked %v, want %v (%s)", at, st.Ask, wantAsk, statuses(r))
		}
		return st
	}
	// report keeps the agent's report as the hub does.
	report := func(id, event, reason string, at time.Duration) bool {
		a := agents[id]
		changed := ReportUpdate(&a, protocol.UpdateStatus{Event: event, From: "1.0.0", To: "1.1.0", Reason: reason}, t0.Add(at))
		agents[id] = a
		return changed
	}
	// expire does what the engine does at each pass before StepRollout.
	expire := func(id string, at time.Duration) bool {
		a := agents[id]
		changed := TimeOutUpdate(&a, deadline, t0.Add(at))
		agents[id] = a
		return changed
	}

	for _, halt := range []bool{true, false} {
		agents["a1"], agents["a2"], online["a1"] = list[0], list[1], true
		r = NewRollout("1.1.0", 0, 1, halt, list, online, allUpdate, t0)
		step(0, "a1")
		report("a1", protocol.UpdateStarted, "", time.Second)
		delete(online, "a1") // it swapped, and never came back
		step(time.Minute)
		if expire("a1", time.Second+deadline-time.Millisecond) {
			t.Fatalf("timed out before the deadline: %+v", agents["a1"].Update)
		}
		if !expire("a1", time.Second+deadline) {
			t.Fatal("not timed out at the deadline")
		}
		u := agents["a1"].Update
		if u.Status != store.UpdateFailed || !strings.HasPrefix(u.Reason, "timeout: no status from the agent within 12m0s") {
			t.Fatalf("timed out: %+v", u)
		}
		if expire("a1", 2*deadline) {
			t.Fatal("timed out twice")
		}
		if halt {
			step(deadline + 2*time.Second)
			if r.Status != store.RolloutHalted || !strings.Contains(r.HaltReason, "agent a1 failed: Failed: timeout: no status") {
				t.Fatalf("haltOnFailure after a timeout: %s %q", r.Status, r.HaltReason)
			}
		} else {
			step(deadline+2*time.Second, "a2") // its place in flight is free
			if got := statuses(r); got != "a1:Failed a2:Updating " {
				t.Fatalf("after a1 timed out: %s", got)
			}
		}
		// The agent comes back and says how it went: its word wins.
		if !report("a1", protocol.UpdateFailed, "verify: bad signature", deadline+3*time.Second) {
			t.Fatal("the agent's own failure, after the timeout, was taken for a report sent again")
		}
		step(deadline + 4*time.Second)
		if r.Members[0].Status != store.MemberFailed || r.Members[0].Reason != "Failed: verify: bad signature" {
			t.Fatalf("a1's own failure after the timeout: %s %q", r.Members[0].Status, r.Members[0].Reason)
		}
	}
	// A late success: the member is Updated, not Failed too.
	report("a1", protocol.UpdateSucceeded, "", deadline+5*time.Second)
	a1 := agents["a1"]
	a1.Version = "1.1.0"
	agents["a1"] = a1
	step(deadline + 6*time.Second)
	if got := statuses(r); got != "a1:Updated a2:Updating " {
		t.Fatalf("after a1's late success: %s", got)
	}

	// a2 was asked and went offline without taking it on: it keeps its
	// place until the deadline, then is Pending, its ask withdrawn, and
	// asked again once back.
	delete(online, "a2")
	asked := r.Members[1].Asked.Sub(t0)
	if st := step(asked + deadline - time.Second); len(st.Unask) != 0 || r.Members[1].Status != store.MemberUpdating {
		t.Fatalf("before the deadline: unasked %v, %s", st.Unask, statuses(r))
	}
	if st := step(asked + deadline); !slices.Equal(st.Unask, []string{"a2"}) || r.Members[1].Status != store.MemberPending {
		t.Fatalf("offline past the deadline: unasked %v, %s", st.Unask, statuses(r))
	}
	online["a2"] = true
	step(asked+deadline+time.Second, "a2")
}
