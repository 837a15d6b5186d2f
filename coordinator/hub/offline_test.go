package hub

import (
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
