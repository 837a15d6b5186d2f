package storetest

import (
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// testAgentEvents checks that events are kept per agent, newest first,
// refused twice under one id, and pruned by time only.
func testAgentEvents(f *fixture) {
	ev := func(agent, id string, sec int, typ store.AgentEventType) store.AgentEvent {
		return store.AgentEvent{ID: id, AgentID: agent, At: at(sec), Type: typ, Reason: "r-" + id}
	}
	adds := []store.AgentEvent{
		ev("ag-1", "e1", 10, store.EventConnected),
		ev("ag-1", "e2", 20, store.EventDisconnected),
		ev("ag-2", "e3", 15, store.EventConnected),
		ev("ag-1", "e4", 30, store.EventLeaseExpired),
	}
	for _, e := range adds {
		if err := f.s.AddAgentEvent(f.ctx, e); err != nil {
			f.Fatalf("AddAgentEvent(%s): %v", e.ID, err)
		}
	}
	if err := f.s.AddAgentEvent(f.ctx, adds[0]); !errors.Is(err, store.ErrExists) {
		f.Errorf("AddAgentEvent twice: %v, want ErrExists", err)
	}
	ids := func(agent string) string {
		f.Helper()
		got, err := f.s.AgentEvents(f.ctx, agent)
		if err != nil {
			f.Fatalf("AgentEvents(%s): %v", agent, err)
		}
		s := ""
		for _, e := range got {
			s += fmt.Sprintf("%s@%d:%s ", e.ID, e.At.Sub(t0)/1e9, e.Reason)
		}
		return s
	}
	if got, want := ids("ag-1"), "e4@30:r-e4 e2@20:r-e2 e1@10:r-e1 "; got != want {
		f.Errorf("events of ag-1: got %q, want %q", got, want)
	}
	if got, want := ids("ag-none"), ""; got != want {
		f.Errorf("events of an agent without any: got %q, want none", got)
	}
	n, err := f.s.PruneAgentEvents(f.ctx, at(20))
	if err != nil || n != 2 {
		f.Errorf("PruneAgentEvents(at 20): %d, %v; want 2 (e1, e3), nil", n, err)
	}
	if got, want := ids("ag-1"), "e4@30:r-e4 e2@20:r-e2 "; got != want {
		f.Errorf("after prune, events of ag-1: got %q, want %q", got, want)
	}
	if got := ids("ag-2"); got != "" {
		f.Errorf("after prune, events of ag-2: got %q, want none", got)
	}
	if n, err := f.s.PruneAgentEvents(f.ctx, at(20)); err != nil || n != 0 {
		f.Errorf("PruneAgentEvents again: %d, %v; want 0, nil", n, err)
	}
}
