package portal

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestFleetAndStrips checks that a support key's home is the fleet page,
// which counts the agents, and that an agent's page and its company's
// draw the strip from its events: each span with its state and, in its
// <title>, why it ended, and a table of the intervals as the text
// alternative; untrusted text is escaped.
func TestFleetAndStrips(t *testing.T) {
	e := newEnv(t, "http://ferry.test")
	ctx := t.Context()
	now := time.Now().UTC()
	if err := e.st.CreateAgent(ctx, store.Agent{ID: "agent-s", CredentialHash: []byte("s"), Created: now.Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateConnection(ctx, "co", "cn", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Linked, "agent-s"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.offlineAgent("agent-off")
	for i, ev := range []store.AgentEvent{
		{Type: store.EventConnected, At: now.Add(-50 * time.Minute)},
		{Type: store.EventDisconnected, Reason: store.ReasonHeartbeatTimeout, At: now.Add(-40 * time.Minute)},
		{Type: store.EventConnected, At: now.Add(-30 * time.Minute)},
		{Type: store.EventDisconnected, Reason: evil, At: now.Add(-20 * time.Minute)},
	} {
		ev.ID, ev.AgentID = "ev-"+string(rune('a'+i)), "agent-s"
		if err := e.st.AddAgentEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	b := e.signedIn(supportKey)
	resp, _ := b.get("/portal/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/fleet" {
		t.Fatalf("a support key's home: %d %q, want 303 to /portal/fleet", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := b.get("/portal/fleet")
	if resp.StatusCode != 200 || !strings.Contains(body, `<dd id="fleet-total">2</dd>`) || !strings.Contains(body, `id="longest-offline"`) ||
		!strings.Contains(body, `/portal/agents/agent-off`) || strings.Contains(body, evil) {
		t.Errorf("fleet page: %d, want 2 agents and agent-off among the longest offline, escaped:\n%s", resp.StatusCode, body)
	}
	resp, body = b.get("/portal/agents/agent-s")
	wantIn := []string{
		`data-state="Online"`, `data-state="Offline"`,
		`ended: heartbeat timeout</title>`,
		`<strong id="disconnects">2</strong>`,
		`<table class="intervals">`,
		`<time datetime="`,
		`&lt;script&gt;`,
	}
	for _, w := range wantIn {
		if !strings.Contains(body, w) {
			t.Errorf("agent page: want %q in it", w)
		}
	}
	if resp.StatusCode != 200 || strings.Contains(body, evil) {
		t.Errorf("agent page: %d, escaped: %v", resp.StatusCode, !strings.Contains(body, evil))
	}
	_, body = b.get("/portal/companies/co")
	if !strings.Contains(body, `id="strip-cn"`) || !strings.Contains(body, `ended: heartbeat timeout</title>`) {
		t.Errorf("company page: want the connection's agent strip")
	}
}
