package server

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// TestRolloutTimeout: one at a time, the first agent takes its update on
// and is never heard of again. Past --update-health plus --update-timeout
// its update fails (the agent's update, an UpdateFailed event,
// agent.update.failed for its connection, the rollout's member), and its
// place goes to the next agent. When it comes back and says it updated
// after all, its word wins: the member is Updated, the rollout counts no
// failure.
func TestRolloutTimeout(t *testing.T) {
	rootPub, root := newEd25519(t)
	dir := t.TempDir()
	writeRelease(t, dir, "1.1.0", signingKey(t, root), nil)
	rcv := &hookLog{}
	hooks := httptest.NewServer(rcv)
	defer hooks.Close()
	cfg := testConfig(t)
	cfg.Downloads, cfg.ReleaseRoots = dir, release.FormatPublicKey(rootPub)
	cfg.RolloutInterval, cfg.RolloutRetry = 20*time.Millisecond, 200*time.Millisecond
	cfg.UpdateHealth, cfg.UpdateTimeout = time.Second, time.Millisecond
	cfg.Events.WebhookAllowPrivate = true
	srv := serve(t, cfg)
	admin := cfg.AdminKey
	waitFor(t, "the leader", srv.Leading)
	api := &apiClient{t: t, base: "http://" + srv.Addr(), key: admin}
	api.post("/webhooks", map[string]any{"url": hooks.URL + "/hook", "eventTypes": []string{"agent.update.failed", "agent.update.succeeded"}})
	var co struct{ ID string }
	api.post("/companies", map[string]any{"name": "Acme"}, &co)

	silent := newFleetAgent(t, srv, "agent-1", "1.0.0")
	next := newFleetAgent(t, srv, "agent-2", "1.0.0")
	conn := store.Connection{ID: "conn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: "agent-1"}
	if err := srv.Store.CreateConnection(t.Context(), conn, store.LinkCode{Hash: []byte("code-hash"), CompanyID: co.ID,
		ConnectionID: conn.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var v rolloutView
	if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.1.0/rollout",
		map[string]any{"canaryCount": 0, "maxInFlight": 1, "haltOnFailure": false}, &v); code != 201 {
		t.Fatalf("POST rollout: %d %s", code, v.Error)
	}

	m := silent.update()
	send(t, silent.ws, protocol.Message{Type: protocol.TypeAck, ID: "s-ack", ReplyTo: m.ID})
	silent.report(protocol.UpdateStarted, "1.1.0", "", "")
	silent.ws.Close()

	const why = "timeout: no status from the agent within 1.001s of its UpdateStarted"
	v = waitRollout(t, srv, admin, "1.1.0", "the silent agent failed", func(v rolloutView) bool { return v.Failed == 1 })
	if v.Status != "Running" || v.Agents[0].AgentID != "agent-1" || v.Agents[0].Reason != "Failed: "+why {
		t.Fatalf("after the timeout: %+v", v)
	}
	m2 := next.update() // its place in flight is free
	if m2.Update.Version != "1.1.0" {
		t.Fatalf("the next agent's update %+v", m2.Update)
	}
	var a agentUpdate
	if code := apiCall(t, srv, admin, "GET", "/agents/agent-1", nil, &a); code != 200 || a.Update == nil ||
		a.Update.Status != "Failed" || a.Update.Reason != why {
		t.Fatalf("the silent agent's update: %d %+v", code, a.Update)
	}
	if evs := updateEvents(t, srv, admin, "agent-1"); len(evs) != 2 || evs[0] != "UpdateFailed:"+why {
		t.Fatalf("the silent agent's events %v, want UpdateFailed (the timeout) then UpdateStarted", evs)
	}
	waitFor(t, "agent.update.failed", func() bool { return len(rcv.ofType("agent.update.failed")) == 1 })
	var hook struct {
		Payload struct {
			Connection struct{ ID string }
			AgentID    string
			Update     struct{ Version, Status, Reason string }
		}
	}
	if err := json.Unmarshal(rcv.ofType("agent.update.failed")[0], &hook); err != nil {
		t.Fatal(err)
	}
	if p := hook.Payload; p.Connection.ID != "conn-1" || p.AgentID != "agent-1" || p.Update.Status != "Failed" || p.Update.Reason != why {
		t.Fatalf("agent.update.failed %+v", p)
	}

	// It updated after all, and says so when it is back.
	silent.version = "1.1.0"
	silent.ws = versionAgent(t, srv, silent.cred, "1.1.0", []string{protocol.FeatureUpdate})
	silent.report(protocol.UpdateSucceeded, "1.1.0", "", "")
	v = waitRollout(t, srv, admin, "1.1.0", "the late success counted", func(v rolloutView) bool { return v.Updated == 1 })
	if v.Failed != 0 || v.Agents[0].Status != "Updated" || v.Agents[0].Reason != "" {
		t.Fatalf("after the late success: %+v", v)
	}
	next.take(m2)
	v = waitRollout(t, srv, admin, "1.1.0", "complete", func(v rolloutView) bool { return v.Status == "Complete" })
	if v.Updated != 2 || v.Failed != 0 || v.InFlight != 0 {
		t.Fatalf("complete: %+v", v)
	}
	if code := apiCall(t, srv, admin, "GET", "/agents/agent-1", nil, &a); code != 200 || a.Update.Status != "Updated" {
		t.Fatalf("the agent's update after its late success: %+v", a.Update)
	}
	waitFor(t, "agent.update.succeeded", func() bool { return len(rcv.ofType("agent.update.succeeded")) == 1 })
	if !strings.Contains(string(rcv.ofType("agent.update.succeeded")[0]), `"conn-1"`) {
		t.Fatalf("agent.update.succeeded %s", rcv.ofType("agent.update.succeeded")[0])
	}
}

func TestUpdateTimeoutValidated(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 25 * time.Hour} {
		cfg := testConfig(t)
		cfg.UpdateTimeout = d
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "update-timeout") {
			t.Errorf("update-timeout %s: %v, want an error naming update-timeout", d, err)
		}
	}
	cfg := testConfig(t)
	cfg.UpdateTimeout = 24 * time.Hour
	if err := cfg.Validate(); err != nil {
		t.Errorf("update-timeout 24h: %v", err)
	}
}
