package server

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestReplicasLogLevel: with an agent connected to replica A, its log
// level raised through replica B's API reaches it on A for the time
// asked; it is sent again, for what remains, when the agent reconnects;
// the raise and the agent's fall back are agent events. B refuses bad
// values (400 naming the field), an unknown agent (404), an offline one
// and one whose version cannot (409), and callers without a valid key.
func TestReplicasLogLevel(t *testing.T) { onBackends(t, testReplicasLogLevel) }

func testReplicasLogLevel(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	admin := testConfig(t).AdminKey
	cred := storedAgent(t, a, "agent-1")
	oldCred := storedAgent(t, a, "agent-old")
	storedAgent(t, a, "agent-off")
	features := []string{protocol.FeatureSupportBundle, protocol.FeatureLogLevel}
	ws := helloAgent(t, a, cred, features)
	helloAgent(t, a, oldCred, nil)

	var view struct{ LogLevel, LogLevelUntil string }
	body := map[string]any{"logLevel": "debug", "for": "30m"}
	if code := apiCall(t, b, admin, "PATCH", "/agents/agent-1", body, &view); code != 200 || view.LogLevel != "debug" || view.LogLevelUntil == "" {
		t.Fatalf("raise through B: %d %+v; want 200 with the level", code, view)
	}
	m := expectType(t, ws, protocol.TypeLogLevel)
	if m.LogLevel.Level != "debug" || m.LogLevel.ForMillis <= 29*60*1000 || m.LogLevel.ForMillis > 30*60*1000 {
		t.Fatalf("the agent on A got %+v; want debug for 30m", m.LogLevel)
	}
	send(t, ws, protocol.Message{Type: protocol.TypeAck, ID: "ack-1", ReplyTo: m.ID})

	// Reconnected (to B this time), the agent is sent the level again.
	ws.Close()
	ws = helloAgent(t, b, cred, features)
	if m := expectType(t, ws, protocol.TypeLogLevel); m.LogLevel.Level != "debug" || m.LogLevel.ForMillis > 30*60*1000 {
		t.Fatalf("after a reconnect the agent got %+v; want debug for what remains", m.LogLevel)
	}
	// The agent says it fell back: an event, acknowledged.
	send(t, ws, protocol.Message{Type: protocol.TypeLogLevel, ID: "fell-back", LogLevel: &protocol.LogLevel{Level: "info"}})
	if ack := expectType(t, ws, protocol.TypeAck); ack.ReplyTo != "fell-back" {
		t.Errorf("ack %+v, want one for fell-back", ack)
	}
	var evs struct {
		Results []struct{ Type, Detail string }
	}
	waitFor(t, "the fall back's event", func() bool {
		apiCall(t, a, admin, "GET", "/agents/agent-1/events", nil, &evs)
		return len(evs.Results) > 0 && evs.Results[0].Type == "LogLevelChanged" && strings.Contains(evs.Results[0].Detail, "back to info")
	})
	raised := false
	for _, e := range evs.Results {
		raised = raised || (e.Type == "LogLevelChanged" && strings.HasPrefix(e.Detail, "debug for 30m0s"))
	}
	if !raised {
		t.Errorf("events %+v: want the raise among them", evs.Results)
	}

	for _, c := range []struct {
		what, key, agent string
		body             any
		want             int
		field            string
	}{
		{"an unknown level", admin, "agent-1", map[string]any{"logLevel": "loud", "for": "30m"}, 400, "logLevel"},
		{"no level", admin, "agent-1", map[string]any{"for": "30m"}, 400, "logLevel"},
		{"too long", admin, "agent-1", map[string]any{"logLevel": "debug", "for": "25h"}, 400, "for"},
		{"not a duration", admin, "agent-1", map[string]any{"logLevel": "debug", "for": "soon"}, 400, "for"},
		{"no for", admin, "agent-1", map[string]any{"logLevel": "debug"}, 400, "for"},
		{"an unknown field", admin, "agent-1", map[string]any{"logLevel": "debug", "for": "1m", "x": 1}, 400, ""},
		{"an unknown agent", admin, "agent-none", body, 404, ""},
		{"an offline agent", admin, "agent-off", body, 409, ""},
		{"an agent too old", admin, "agent-old", body, 409, ""},
		{"no key", "", "agent-1", body, 401, ""},
		{"a wrong key", "wrong-key", "agent-1", body, 401, ""},
	} {
		var e struct{ Error string }
		if code := apiCall(t, b, c.key, "PATCH", "/agents/"+c.agent, c.body, &e); code != c.want || !strings.HasPrefix(e.Error, c.field) {
			t.Errorf("PATCH through B, %s: %d %q, want %d naming %q", c.what, code, e.Error, c.want, c.field)
		}
	}
}
