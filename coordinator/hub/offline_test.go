package hub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestCheckOffline drives the leader's pass on the hub's injected clock:
// an agent that disconnected is reported offline only once it has been
// for DefaultOfflineAfter (the connection's AgentOffline error), once;
// connecting again resolves it.
func TestCheckOffline(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	active := func() bool {
		c, err := e.st.Connection(t.Context(), e.co, conn)
		if err != nil {
			t.Fatal(err)
		}
		_, ok := rules.ActiveError(c, store.ConnErrAgentOffline)
		return ok
	}
	e.hub.CheckOffline(t.Context())
	if active() {
		t.Fatal("an online agent was reported offline")
	}
	a.ws.Close()
	waitUntil(t, "the agent offline", func() bool { return e.hub.OnlineCount() == 0 })
	// The hub stores the agent's last seen after it is gone from the live
	// ones: wait for it before moving the clock.
	waitUntil(t, "the agent's last seen stored", func() bool {
		ag, err := e.st.AgentByCredential(t.Context(), HashCredential(cred))
		return err == nil && ag.LastSeen.Equal(e.clock.Now())
	})
	e.clock.Add(DefaultOfflineAfter - time.Second)
	e.hub.CheckOffline(t.Context())
	if active() {
		t.Fatal("reported offline before the threshold")
	}
	e.clock.Add(time.Second)
	e.hub.CheckOffline(t.Context())
	if !active() {
		t.Fatal("not reported offline at the threshold")
	}
	c, _ := e.st.Connection(t.Context(), e.co, conn)
	e.clock.Add(time.Hour)
	e.hub.CheckOffline(t.Context())
	again, _ := e.st.Connection(t.Context(), e.co, conn)
	if len(again.Errors) != len(c.Errors) {
		t.Errorf("a second pass added errors: %+v", again.Errors)
	}
	e.connect(cred, all(conn))
	waitUntil(t, "the error resolved", func() bool { return !active() })
}

// countingStore counts the agents and channels the hub reads.
type countingStore struct {
	Store
	agents, channels atomic.Int64
}

func (s *countingStore) Agents(ctx context.Context) ([]store.Agent, error) {
	as, err := s.Store.Agents(ctx)
	s.agents.Add(int64(len(as)))
	return as, err
}

func (s *countingStore) Agent(ctx context.Context, id string) (store.Agent, error) {
	s.agents.Add(1)
	return s.Store.Agent(ctx, id)
}

func (s *countingStore) Channels(ctx context.Context) ([]store.Channel, error) {
	cs, err := s.Store.Channels(ctx)
	s.channels.Add(int64(len(cs)))
	return cs, err
}

func (s *countingStore) Channel(ctx context.Context, id string) (store.Channel, error) {
	s.channels.Add(1)
	return s.Store.Channel(ctx, id)
}

// TestCheckOfflineReadsWhatChanged: with 100 agents online, a pass after
// the first reads no agent and no channel; it reads an agent the feed
// names (released, created, revoked) and one that falls due, and reports
// each as before.
func TestCheckOfflineReadsWhatChanged(t *testing.T) {
	var cs *countingStore
	e := newEnvWith(t, func(cfg *Config) { cs = &countingStore{Store: cfg.Store}; cfg.Store = cs })
	ctx := t.Context()
	const n = 100
	newAgent := func(id string) {
		t.Helper()
		if err := e.st.CreateAgent(ctx, store.Agent{ID: id, CredentialHash: []byte("cred-" + id), Created: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	epochs := map[string]uint64{}
	for i := range n {
		id := fmt.Sprintf("agent-%03d", i)
		newAgent(id)
		epoch, err := e.st.ClaimChannel(ctx, id, "replica-b")
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = epoch
	}
	newAgent("quiet") // never connects
	pass := func(what string, agents, channels int64) {
		t.Helper()
		cs.agents.Store(0)
		cs.channels.Store(0)
		e.hub.CheckOffline(ctx)
		if a, c := cs.agents.Load(), cs.channels.Load(); a != agents || c != channels {
			t.Errorf("%s: the pass read %d agents and %d channels, want %d and %d", what, a, c, agents, channels)
		}
	}
	reported := func(id string) bool {
		t.Helper()
		a, err := e.st.Agent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return !a.Offline.IsZero()
	}
	pass("the first pass", n+1, n)
	e.clock.Add(time.Minute)
	pass("a pass with nothing changed", 0, 0)

	// An agent goes offline: released, and its last seen stored.
	if _, err := e.st.ReleaseChannel(ctx, "agent-007", epochs["agent-007"]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateAgent(ctx, "agent-007", func(a *store.Agent) error { a.LastSeen = e.clock.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	pass("after a release", 1, 1)
	pass("again", 0, 0)

	e.clock.Add(DefaultOfflineAfter - 2*time.Minute) // quiet's threshold
	pass("at the quiet agent's threshold", 1, 1)
	if !reported("quiet") || reported("agent-007") {
		t.Errorf("reported offline: quiet %v, agent-007 %v; want true, false", reported("quiet"), reported("agent-007"))
	}
	e.clock.Add(time.Minute) // agent-007's
	pass("at the released agent's threshold", 1, 1)
	if !reported("agent-007") {
		t.Error("the released agent not reported offline at its threshold")
	}
	pass("after the reports", 0, 0)

	// Back, its Connected event not stored: the pass ends the report.
	if _, err := e.st.ClaimChannel(ctx, "agent-007", "replica-b"); err != nil {
		t.Fatal(err)
	}
	pass("after a reported agent's claim", 1, 1)
	if reported("agent-007") {
		t.Error("an agent online again still reported offline")
	}
	// A burst: 20 of the agents leave and come back (an eighth is 12).
	for i := 20; i < 40; i++ {
		id := fmt.Sprintf("agent-%03d", i)
		if _, err := e.st.ReleaseChannel(ctx, id, epochs[id]); err != nil {
			t.Fatal(err)
		}
		epoch, err := e.st.ClaimChannel(ctx, id, "replica-b")
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = epoch
	}
	pass("after a burst", n+1, n)
	pass("after the burst", 0, 0)

	newAgent("new")
	pass("after an agent is created", 1, 1)
	if _, err := e.st.UpdateAgent(ctx, "quiet", func(a *store.Agent) error { a.Revoked = e.clock.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	pass("after a revocation", 1, 1)
	if reported("quiet") {
		t.Error("a revoked agent's report not ended")
	}
	e.clock.Add(DefaultOfflineAfter)
	pass("at the new agent's threshold", 1, 1)
	if !reported("new") {
		t.Error("an agent that never connected not reported offline")
	}
	pass("at the end", 0, 0)
}
