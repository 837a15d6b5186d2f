package hub

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestRevokeAgent: revoking marks the agent, deauthorizes its Linked
// connections, records one event with the caller's reason and closes the
// live connection; revoking again changes nothing.
func TestRevokeAgent(t *testing.T) {
	e := newEnv(t)
	if err := e.hub.RevokeAgent(t.Context(), "nobody", "test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke an unknown agent: %v, want ErrNotFound", err)
	}
	conn, cred := e.linked()
	_, w := e.connect(cred, all(conn))
	for range 2 {
		if err := e.hub.RevokeAgent(t.Context(), w.AgentID, "revoked by the test"); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := e.st.Agent(t.Context(), w.AgentID); a.Revoked.IsZero() {
		t.Error("agent not marked revoked")
	}
	if c, _ := e.st.Connection(t.Context(), e.co, conn); c.Status != store.Deauthorized {
		t.Errorf("connection %s, want Deauthorized", c.Status)
	}
	// The hub lets the connection go once its loops end.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for e.hub.Online(w.AgentID) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the revoked agent is still online")
		}
	}
	evs, err := e.st.AgentEvents(t.Context(), w.AgentID)
	if err != nil {
		t.Fatal(err)
	}
	var revoked []string
	for _, ev := range evs {
		if ev.Type == store.EventCredentialRevoked {
			revoked = append(revoked, ev.Reason)
		}
	}
	if len(revoked) != 1 || revoked[0] != "revoked by the test" {
		t.Errorf("CredentialRevoked events %q, want one with the caller's reason", revoked)
	}
}
