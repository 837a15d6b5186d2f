package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestConnectionErrors: a connection's errors are Codat's
// dataConnectionErrors on the connection, its list and its company, in
// the schema's shape; Active while the agent is offline, Resolved (with
// resolvedOnUtc) once it is back. A support key reads them; another
// company's path, no key and a deleted key see nothing.
func TestConnectionErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.st.CreateAgent(ctx, store.Agent{ID: "agent-1", CredentialHash: []byte("cred"), Created: e.clock.Now(), LastSeen: e.clock.Now()}))
	path := "/companies/" + co + "/connections/" + conn.ID
	var c connectionView
	body := e.must(200, "GET", path, nil, &c)
	if strings.Contains(string(body), "dataConnectionErrors") {
		t.Errorf("a connection without errors shows dataConnectionErrors: %s", body)
	}

	offlineAt := e.clock.Now().Add(20 * time.Minute)
	_, err := e.st.CheckAgentOffline(ctx, "agent-1", offlineAt, 15*time.Minute)
	must(err)
	body = e.must(200, "GET", path, nil, &c)
	checkSchema(t, "Connection", body)
	want := connectionErrorView{StatusCode: "503", StatusText: "AgentOffline", Status: "Active",
		ErroredOnUtc: "2026-03-01T09:20:00.000Z",
		ErrorMessage: "the agent agent-1 has been offline since 2026-03-01T09:00:00Z (more than 15m0s)"}
	if len(c.DataConnectionErrors) != 1 || c.DataConnectionErrors[0] != want {
		t.Errorf("dataConnectionErrors = %+v, want [%+v]", c.DataConnectionErrors, want)
	}
	var raw map[string]json.RawMessage
	must(json.Unmarshal(body, &raw))
	var fields []map[string]any
	must(json.Unmarshal(raw["dataConnectionErrors"], &fields))
	if _, ok := fields[0]["resolvedOnUtc"]; ok {
		t.Errorf("an Active error has resolvedOnUtc: %s", raw["dataConnectionErrors"])
	}
	var company companyView
	checkSchema(t, "Company", e.must(200, "GET", "/companies/"+co, nil, &company))
	if len(company.DataConnections) != 1 || len(company.DataConnections[0].DataConnectionErrors) != 1 {
		t.Errorf("company.dataConnections = %+v, want the error", company.DataConnections)
	}

	// Who may see them.
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "support desk", "scope": "support"}, &k)
	var seen connectionView
	status, out := e.callWith("Bearer "+k.APIKey, "GET", path, nil)
	must(json.Unmarshal(out, &seen))
	if status != 200 || len(seen.DataConnectionErrors) != 1 {
		t.Errorf("support key: %d %s, want the error", status, out)
	}
	other := e.company("Other")
	for _, tt := range []struct {
		name, auth, path string
		status, code     int
	}{
		{"another company's path", "Bearer " + adminKey, "/companies/" + other + "/connections/" + conn.ID, 404, CodeNotFound},
		{"no key", "", path, 401, CodeUnauthorized},
		{"a made-up key", "Bearer not-a-key", path, 401, CodeUnauthorized},
	} {
		status, out := e.callWith(tt.auth, "GET", tt.path, nil)
		e.apiError(status, out, tt.status, tt.code)
		if strings.Contains(string(out), "AgentOffline") {
			t.Errorf("%s: the answer shows the error: %s", tt.name, out)
		}
	}
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	status, out = e.callWith("Bearer "+k.APIKey, "GET", path, nil)
	e.apiError(status, out, 401, CodeUnauthorized)

	// Back: Resolved.
	backAt := offlineAt.Add(time.Hour)
	must(e.st.AddAgentEvent(ctx, store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: backAt, Type: store.EventConnected,
		Connections: []string{conn.ID}}))
	body = e.must(200, "GET", path, nil, &c)
	checkSchema(t, "Connection", body)
	want.Status, want.ResolvedOn = "Resolved", "2026-03-01T10:20:00.000Z"
	if len(c.DataConnectionErrors) != 1 || c.DataConnectionErrors[0] != want {
		t.Errorf("after the agent came back: %+v, want [%+v]", c.DataConnectionErrors, want)
	}
}

// TestWebhookNewEventTypes: a consumer may subscribe to each new event
// type; an unknown one is still refused.
func TestWebhookNewEventTypes(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.WebhookAllowPrivate = true })
	types := []string{"read.completed.initial", "connection.reconnected", "connection.deleted", "connection.failed", "agent.offline",
		"agent.online", "connection.error.raised", "connection.error.resolved"}
	var w struct {
		EventTypes []string `json:"eventTypes"`
	}
	e.must(201, "POST", "/webhooks", map[string]any{"url": "https://hooks.example.com/ferry", "eventTypes": types}, &w)
	if len(w.EventTypes) != len(types) {
		t.Errorf("eventTypes = %v, want %v", w.EventTypes, types)
	}
	status, out := e.call("POST", "/webhooks", map[string]any{"url": "https://hooks.example.com/ferry", "eventTypes": []string{"agent.exploded"}})
	e.apiError(status, out, 400, CodeInvalidField, "agent.exploded")
}
