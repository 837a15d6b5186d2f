package server

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// versionAgent connects an agent of version v to srv with the features
// given, serving no connection, and returns its channel once welcomed.
func versionAgent(t *testing.T, srv *Server, cred, v string, features []string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://"+srv.Addr()+protocol.ConnectPath, http.Header{"Authorization": {"Bearer " + cred}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	send(t, ws, protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "pc", OS: "linux", AgentVersion: v, Capacity: 2,
		Bindings: []protocol.Binding{}, Features: features}})
	var m protocol.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
		t.Fatalf("hello: %v %s, want welcome", err, m.Type)
	}
	return ws
}

// askUpdate stores an update asked of the agent, as a rollout does.
func askUpdate(t *testing.T, srv *Server, agentID, version string) {
	t.Helper()
	_, err := srv.Store.UpdateAgent(t.Context(), agentID, func(a *store.Agent) error {
		a.UpdateAsk = &store.UpdateAsk{Version: version, Reason: "rollout", At: time.Now().UTC()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// noUpdate sends a heartbeat and reads the channel until its ack,
// failing on an update before it: the coordinator sends an update on
// connect, or on a change it saw, before it answers what comes next.
func noUpdate(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	send(t, ws, protocol.Message{Type: protocol.TypeHeartbeat, ID: "probe", Heartbeat: &protocol.Heartbeat{}})
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var m protocol.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for the probe's ack: %v", err)
		}
		if m.Type == protocol.TypeUpdate {
			t.Fatalf("got update %+v, want none", m.Update)
		}
		if m.Type == protocol.TypeAck && m.ReplyTo == "probe" {
			return
		}
	}
}

type agentUpdate struct {
	Update *struct{ Version, From, Status, Step, Reason, At string }
}

// updateEvents are the agent's Update* events, newest first.
func updateEvents(t *testing.T, srv *Server, key, agentID string) []string {
	var evs struct {
		Results []struct{ Type, Detail string }
	}
	apiCall(t, srv, key, "GET", "/agents/"+agentID+"/events", nil, &evs)
	var out []string
	for _, e := range evs.Results {
		switch e.Type {
		case "UpdateStarted", "UpdateSucceeded", "UpdateFailed", "UpdateRolledBack":
			out = append(out, e.Type+":"+e.Detail)
		}
	}
	return out
}

// TestUpdateMessages: an update asked of an agent through replica B's
// store reaches it on replica A, with the coordinator's --update-health;
// an agent whose hello did not list the feature is sent none. An ask the
// agent never answered is sent again when it connects, one it answered is
// not. Its reports are acknowledged, kept as the agent's update, and
// recorded as events once (a report sent again makes no second event); a
// refusal is a failed update; a busy answer changes nothing.
func TestUpdateMessages(t *testing.T) { onBackends(t, testUpdateMessages) }

func testUpdateMessages(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, func(c *Config) { c.UpdateHealth = 90 * time.Second }, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	admin := testConfig(t).AdminKey
	cred, oldCred := storedAgent(t, a, "agent-1"), storedAgent(t, a, "agent-old")
	features := []string{protocol.FeatureUpdate}
	ws := versionAgent(t, a, cred, "1.0.0", features)
	old := versionAgent(t, a, oldCred, "1.0.0", nil)

	askUpdate(t, b, "agent-old", "1.1.0")
	askUpdate(t, b, "agent-1", "1.1.0")
	m := expectType(t, ws, protocol.TypeUpdate)
	if m.Update.Version != "1.1.0" || m.Update.HealthMillis != 90000 || m.Update.Reason != "rollout" {
		t.Fatalf("the agent on A got %+v; want 1.1.0 with 90000 ms, reason rollout", m.Update)
	}
	noUpdate(t, old)

	// Busy: nothing recorded. Not answered yet: sent again on connect.
	send(t, ws, protocol.Message{Type: protocol.TypeError, ID: "busy", ReplyTo: m.ID,
		Error: &protocol.Error{Code: protocol.CodeBusy, Message: "a dataset in hand"}})
	ws.Close()
	ws = versionAgent(t, b, cred, "1.0.0", features)
	m = expectType(t, ws, protocol.TypeUpdate)
	if m.Update.Version != "1.1.0" {
		t.Fatalf("on reconnect the agent got %+v; want 1.1.0 again", m.Update)
	}
	if evs := updateEvents(t, a, admin, "agent-1"); len(evs) != 0 {
		t.Fatalf("events after busy: %v, want none", evs)
	}

	// Taken on: the report is acknowledged, kept and recorded, once.
	send(t, ws, protocol.Message{Type: protocol.TypeAck, ID: "ack", ReplyTo: m.ID})
	started := protocol.Message{Type: protocol.TypeUpdateStatus, ID: "s1", UpdateStatus: &protocol.UpdateStatus{
		Event: protocol.UpdateStarted, From: "1.0.0", To: "1.1.0"}}
	for _, id := range []string{"s1", "s1-again"} {
		started.ID = id
		send(t, ws, started)
		if ack := expectType(t, ws, protocol.TypeAck); ack.ReplyTo != id {
			t.Fatalf("ack %+v, want one for %s", ack, id)
		}
	}
	var view agentUpdate
	apiCall(t, a, admin, "GET", "/agents/agent-1", nil, &view)
	if u := view.Update; u == nil || u.Version != "1.1.0" || u.From != "1.0.0" || u.Status != "Updating" || u.At == "" {
		t.Fatalf("agent's update %+v, want 1.1.0 from 1.0.0 Updating", u)
	}
	// Answered: a reconnect sends nothing.
	ws.Close()
	ws = versionAgent(t, a, cred, "1.0.0", features)
	noUpdate(t, ws)
	send(t, ws, protocol.Message{Type: protocol.TypeUpdateStatus, ID: "rb", UpdateStatus: &protocol.UpdateStatus{
		Event: protocol.UpdateRolledBack, From: "1.0.0", To: "1.1.0", Step: protocol.StepHealth, Reason: "not healthy within 1m30s"}})
	if ack := expectType(t, ws, protocol.TypeAck); ack.ReplyTo != "rb" {
		t.Fatalf("ack %+v, want one for rb", ack)
	}
	noUpdate(t, ws)
	apiCall(t, b, admin, "GET", "/agents/agent-1", nil, &view)
	if u := view.Update; u == nil || u.Status != "RolledBack" || u.Step != "health" || u.Reason != "not healthy within 1m30s" {
		t.Fatalf("agent's update %+v, want RolledBack at health", u)
	}
	want := []string{"UpdateRolledBack:not healthy within 1m30s", "UpdateStarted:"}
	if evs := updateEvents(t, a, admin, "agent-1"); !equalStrings(evs, want) {
		t.Fatalf("events %v, want %v", evs, want)
	}

	// Asked again, refused: a failed update, recorded once.
	askUpdate(t, b, "agent-1", "1.1.0")
	m = expectType(t, ws, protocol.TypeUpdate)
	for range 2 {
		send(t, ws, protocol.Message{Type: protocol.TypeError, ID: "no", ReplyTo: m.ID,
			Error: &protocol.Error{Code: protocol.CodeUpdateRefused, Message: "downgrade"}})
	}
	// The reader takes the refusals, each with its store write and its
	// event, before it answers the probe.
	noUpdate(t, ws)
	apiCall(t, a, admin, "GET", "/agents/agent-1", nil, &view)
	if u := view.Update; u == nil || u.Status != "Failed" || u.Reason != "refused: downgrade" || u.Version != "1.1.0" {
		t.Fatalf("agent's update %+v, want Failed, refused: downgrade", u)
	}
	want = append([]string{"UpdateFailed:refused: downgrade"}, want...)
	if evs := updateEvents(t, a, admin, "agent-1"); !equalStrings(evs, want) {
		t.Fatalf("events %v, want %v", evs, want)
	}

	// A report of an update never asked is kept all the same: the agent
	// is the authority on what it runs.
	send(t, ws, protocol.Message{Type: protocol.TypeUpdateStatus, ID: "x", UpdateStatus: &protocol.UpdateStatus{
		Event: protocol.UpdateSucceeded, From: "1.0.0", To: "1.2.0"}})
	if ack := expectType(t, ws, protocol.TypeAck); ack.ReplyTo != "x" {
		t.Fatalf("ack %+v, want one for x", ack)
	}
	apiCall(t, a, admin, "GET", "/agents/agent-1", nil, &view)
	if u := view.Update; u.Status != "Updated" || u.Version != "1.2.0" {
		t.Fatalf("agent's update %+v, want 1.2.0 Updated", u)
	}
	// The event is at the time the report was taken, the update's At, not
	// later: a rollout moves on from the update, and its next agents must
	// not appear to start before the event.
	var evs struct{ Results []struct{ Type, At string } }
	apiCall(t, a, admin, "GET", "/agents/agent-1/events", nil, &evs)
	i := slices.IndexFunc(evs.Results, func(e struct{ Type, At string }) bool { return e.Type == "UpdateSucceeded" })
	if i < 0 {
		t.Fatalf("no UpdateSucceeded event in %+v", evs.Results)
	}
	if at, want := mustTime(t, evs.Results[i].At), mustTime(t, view.Update.At); !at.Equal(want) {
		t.Errorf("UpdateSucceeded at %s, want the update's %s", at, want)
	}
	// A malformed report is refused and changes nothing.
	send(t, ws, protocol.Message{Type: protocol.TypeUpdateStatus, ID: "bad", UpdateStatus: &protocol.UpdateStatus{
		Event: "UpdateExploded", From: "1.0.0", To: "1.3.0"}})
	if e := expectType(t, ws, protocol.TypeError); e.Error.Code != protocol.CodeBadMessage {
		t.Fatalf("malformed report answered %+v, want bad_message", e.Error)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
