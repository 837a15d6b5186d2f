package server

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestEventsPrunedAfterRetention: the GC loop of a serving coordinator
// deletes agent events older than EventRetention and keeps the others.
func TestEventsPrunedAfterRetention(t *testing.T) {
	cfg := testConfig(t)
	cfg.GCInterval, cfg.EventRetention = time.Second, time.Hour
	srv := serve(t, cfg)
	now := time.Now().UTC()
	for id, at := range map[string]time.Time{"old": now.Add(-2 * time.Hour), "recent": now.Add(-30 * time.Minute)} {
		err := srv.Store.AddAgentEvent(t.Context(), store.AgentEvent{ID: id, AgentID: "agent-1", At: at, Type: store.EventConnected})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs, err := srv.Store.AgentEvents(t.Context(), "agent-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 && evs[0].ID == "recent" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %+v: want only the recent one kept", evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEventRetentionValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EventRetention = time.Minute
	if err := cfg.Validate(); err == nil {
		t.Error("event retention of a minute: no error, want one naming event-retention")
	}
}
