package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// minAgent is a protocol-speaking test agent of a version.
type minAgent struct {
	t  *testing.T
	ws *websocket.Conn
	n  int // heartbeats sent
}

// dialVersion connects an agent saying version, listing features and
// serving conn (none when empty).
func dialVersion(t *testing.T, srv *Server, cred, version, conn string, features []string) *minAgent {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://"+srv.Addr()+protocol.ConnectPath, http.Header{"Authorization": {"Bearer " + cred}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	bindings := []protocol.Binding{}
	if conn != "" {
		bindings = append(bindings, protocol.Binding{ConnectionID: conn, DataTypes: dataset.DataTypes})
	}
	send(t, ws, protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "pc", OS: "linux", AgentVersion: version, Capacity: 2,
		Bindings: bindings, Features: features}})
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	var m protocol.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
		t.Fatalf("hello of %s: %v %s, want welcome", version, err, m.Type)
	}
	return &minAgent{t: t, ws: ws}
}

// until reads messages until one matches, and returns those before it
// and the match.
func (a *minAgent) until(what string, match func(protocol.Message) bool) ([]protocol.Message, protocol.Message) {
	a.t.Helper()
	_ = a.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	var before []protocol.Message
	for {
		var m protocol.Message
		if err := a.ws.ReadJSON(&m); err != nil {
			a.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(m) {
			return before, m
		}
		before = append(before, m)
	}
}

// beat sends a heartbeat with nothing in hand and returns what came
// before its ack: the hub writes what it queued before the ack first.
func (a *minAgent) beat() []protocol.Message {
	a.t.Helper()
	a.n++
	id := "beat-" + string(rune('a'+a.n))
	send(a.t, a.ws, protocol.Message{Type: protocol.TypeHeartbeat, ID: id, Heartbeat: &protocol.Heartbeat{}})
	before, _ := a.until("the ack of "+id, func(m protocol.Message) bool { return m.Type == protocol.TypeAck && m.ReplyTo == id })
	return before
}

func ofType(ms []protocol.Message, typ protocol.Type) []protocol.Message {
	var out []protocol.Message
	for _, m := range ms {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// minAgentView is the part of GET /agents/{id} the minimum version shows.
type minAgentView struct {
	AgentVersion        string
	UpdatePolicy        string
	BelowMinimumVersion bool
	MinimumVersion      string
}

type agentEvents struct {
	Results []struct{ Type, Detail string }
}

func eventsOf(t *testing.T, srv *Server, key, agentID string, typ store.AgentEventType) []string {
	t.Helper()
	var evs agentEvents
	if code := apiCall(t, srv, key, "GET", "/agents/"+agentID+"/events", nil, &evs); code != 200 {
		t.Fatalf("events of %s: %d", agentID, code)
	}
	var out []string
	for _, e := range evs.Results {
		if e.Type == string(typ) {
			out = append(out, e.Detail)
		}
	}
	return out
}

// linkedCompany makes a company with one connection linked to agentID,
// a dataset queued on it, and returns the dataset's id.
func linkedCompany(t *testing.T, srv *Server, key, conn, agentID string) string {
	t.Helper()
	var co struct{ ID string }
	if code := apiCall(t, srv, key, "POST", "/companies", map[string]any{"name": "Co " + conn}, &co); code != 200 {
		t.Fatalf("create company: %d", code)
	}
	c := store.Connection{ID: conn, CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: agentID}
	if err := srv.Store.CreateConnection(t.Context(), c, store.LinkCode{Hash: []byte("code-" + conn), CompanyID: co.ID,
		ConnectionID: conn, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var ds struct{ ID string }
	if code := apiCall(t, srv, key, "POST", "/companies/"+co.ID+"/data/queue/"+string(dataset.Company), nil, &ds); code != 200 || ds.ID == "" {
		t.Fatalf("queue on %s: %d %q", conn, code, ds.ID)
	}
	return ds.ID
}

// TestMinAgentVersion: with --min-agent-version 1.2.0 an agent of 1.1.0
// is welcomed but offered nothing, and its claim is refused busy naming
// the minimum, while an agent of 1.2.0 is offered and claims its work.
// The old agent, pinned, is told to update to the newest verified release
// (1.3.0, not the unverified 1.5.0) because it lists the update feature;
// an agent of version "dev" that does not list it is told nothing. Each
// has one BelowMinimumVersion event whatever its heartbeats, and the
// agent resource shows belowMinimumVersion and minimumVersion. A refusal
// of the update for good is an event. With a minimum no verified release
// reaches, the event says so and no update is sent.
func TestMinAgentVersion(t *testing.T) {
	rootPub, root := newEd25519(t)
	_, strangerRoot := newEd25519(t)
	good, stranger := signingKey(t, root), signingKey(t, strangerRoot)
	dir := t.TempDir()
	writeRelease(t, dir, "1.2.0", good, nil)
	writeRelease(t, dir, "1.3.0", good, nil)
	writeRelease(t, dir, "1.5.0", stranger, nil)
	cfg := testConfig(t)
	cfg.Downloads, cfg.ReleaseRoots, cfg.MinAgentVersion = dir, release.FormatPublicKey(rootPub), "1.2.0"
	srv := serve(t, cfg)
	key := cfg.AdminKey

	oldCred, newCred, devCred := storedAgent(t, srv, "agent-old"), storedAgent(t, srv, "agent-new"), storedAgent(t, srv, "agent-dev")
	oldDS := linkedCompany(t, srv, key, "conn-old", "agent-old")
	newDS := linkedCompany(t, srv, key, "conn-new", "agent-new")
	// The minimum wins over a pin.
	if code := apiCall(t, srv, key, "PATCH", "/agents/agent-old", map[string]any{"updatePolicy": "pinned"}, nil); code != 200 {
		t.Fatalf("pin agent-old: %d", code)
	}

	newAgent := dialVersion(t, srv, newCred, "1.2.0", "conn-new", []string{protocol.FeatureUpdate})
	before, _ := newAgent.until("the offer to 1.2.0", func(m protocol.Message) bool {
		return m.Type == protocol.TypeOffer && m.Offer.DatasetID == newDS
	})
	before = append(before, newAgent.beat()...)
	if u := ofType(before, protocol.TypeUpdate); len(u) > 0 {
		t.Errorf("the agent at the minimum was sent %+v, want no update", u[0].Update)
	}
	send(t, newAgent.ws, protocol.Message{Type: protocol.TypeClaim, ID: "claim-new", Claim: &protocol.Claim{DatasetID: newDS}})
	if _, m := newAgent.until("the claim's reply", func(m protocol.Message) bool { return m.ReplyTo == "claim-new" }); m.Type != protocol.TypeClaimed {
		t.Errorf("claim of the agent at the minimum: %s %+v, want claimed", m.Type, m.Error)
	}

	oldAgent := dialVersion(t, srv, oldCred, "1.1.0", "conn-old", []string{protocol.FeatureUpdate})
	var seen []protocol.Message
	for range 3 {
		seen = append(seen, oldAgent.beat()...)
	}
	if o := ofType(seen, protocol.TypeOffer); len(o) > 0 {
		t.Errorf("the agent below the minimum was offered %+v", o[0].Offer)
	}
	updates := ofType(seen, protocol.TypeUpdate)
	if len(updates) != 1 {
		t.Fatalf("the agent below the minimum got %d updates, want 1 (no repeat within 30 s)", len(updates))
	}
	if u := updates[0].Update; u.Version != "1.3.0" || u.Reason != "minimumVersion" || u.HealthMillis != hub.DefaultUpdateHealth.Milliseconds() {
		t.Errorf("update %+v, want 1.3.0, reason minimumVersion, health %s", u, hub.DefaultUpdateHealth)
	}
	send(t, oldAgent.ws, protocol.Message{Type: protocol.TypeClaim, ID: "claim-old", Claim: &protocol.Claim{DatasetID: oldDS}})
	_, m := oldAgent.until("the claim's reply", func(m protocol.Message) bool { return m.ReplyTo == "claim-old" })
	if m.Type != protocol.TypeError || m.Error.Code != protocol.CodeBusy || !strings.Contains(m.Error.Message, "1.2.0") {
		t.Errorf("claim below the minimum: %s %+v, want busy naming 1.2.0", m.Type, m.Error)
	}
	var d struct{ Status dataset.Status }
	var co struct{ Results []struct{ ID string } }
	apiCall(t, srv, key, "GET", "/companies", nil, &co)
	for _, c := range co.Results {
		if apiCall(t, srv, key, "GET", "/companies/"+c.ID+"/data/history/"+oldDS, nil, &d) == 200 && d.Status != dataset.Queued {
			t.Errorf("the refused claim's dataset is %s, want Queued", d.Status)
		}
	}

	devAgent := dialVersion(t, srv, devCred, "dev", "", nil)
	if u := ofType(devAgent.beat(), protocol.TypeUpdate); len(u) > 0 {
		t.Errorf("an agent without the update feature was sent %+v", u[0].Update)
	}

	for _, c := range []struct {
		agent string
		want  minAgentView
	}{
		{"agent-old", minAgentView{"1.1.0", "pinned", true, "1.2.0"}},
		{"agent-new", minAgentView{"1.2.0", "auto", false, "1.2.0"}},
		{"agent-dev", minAgentView{"dev", "auto", true, "1.2.0"}},
	} {
		var v minAgentView
		if code := apiCall(t, srv, key, "GET", "/agents/"+c.agent, nil, &v); code != 200 || v != c.want {
			t.Errorf("GET /agents/%s: %d %+v, want %+v", c.agent, code, v, c.want)
		}
	}
	var list struct{ Results []minAgentView }
	if apiCall(t, srv, key, "GET", "/agents", nil, &list); !slices.ContainsFunc(list.Results, func(v minAgentView) bool {
		return v.AgentVersion == "1.1.0" && v.BelowMinimumVersion && v.MinimumVersion == "1.2.0"
	}) {
		t.Errorf("GET /agents: %+v, want agent-old below the minimum", list.Results)
	}

	if evs := eventsOf(t, srv, key, "agent-old", store.EventBelowMinimumVersion); len(evs) != 1 || !strings.Contains(evs[0], "told to update to 1.3.0") {
		t.Errorf("agent-old's BelowMinimumVersion events: %q, want one naming the update to 1.3.0", evs)
	}
	if evs := eventsOf(t, srv, key, "agent-dev", store.EventBelowMinimumVersion); len(evs) != 1 || !strings.Contains(evs[0], "cannot update itself") {
		t.Errorf("agent-dev's BelowMinimumVersion events: %q, want one saying it cannot update itself", evs)
	}
	if evs := eventsOf(t, srv, key, "agent-new", store.EventBelowMinimumVersion); len(evs) != 0 {
		t.Errorf("agent-new's BelowMinimumVersion events: %q, want none", evs)
	}

	// The agent refuses the update for good: an event says why.
	send(t, oldAgent.ws, protocol.Message{Type: protocol.TypeError, ID: "no", ReplyTo: updates[0].ID,
		Error: &protocol.Error{Code: protocol.CodeUpdateRefused, Message: "downgrade: 1.3.0 is older"}})
	waitFor(t, "the refusal's event", func() bool {
		evs := eventsOf(t, srv, key, "agent-old", store.EventBelowMinimumVersion)
		return len(evs) == 2 && strings.Contains(evs[0], "refused the update") && strings.Contains(evs[0], "downgrade: 1.3.0 is older")
	})

	// A minimum above every verified release: nothing to update to.
	cfg2 := testConfig(t)
	cfg2.Downloads, cfg2.ReleaseRoots, cfg2.MinAgentVersion = dir, release.FormatPublicKey(rootPub), "1.4.0"
	srv2 := serve(t, cfg2)
	cred := storedAgent(t, srv2, "agent-old")
	a := dialVersion(t, srv2, cred, "1.3.0", "", []string{protocol.FeatureUpdate})
	if u := ofType(a.beat(), protocol.TypeUpdate); len(u) > 0 {
		t.Errorf("with no release at the minimum the agent was sent %+v", u[0].Update)
	}
	if evs := eventsOf(t, srv2, cfg2.AdminKey, "agent-old", store.EventBelowMinimumVersion); len(evs) != 1 || !strings.Contains(evs[0], "no verified release") {
		t.Errorf("BelowMinimumVersion events with no release at the minimum: %q, want one saying so", evs)
	}
}

// TestPatchUpdatePolicy: a client key pins an agent and sets it back to
// auto, each change one UpdatePolicyChanged event and shown on the agent;
// a support key may not (403 20002) but may still raise the log level; a
// revoked key, an agent's credential, an unknown agent, bad values and a
// huge body are refused in the error shape, changing nothing.
func TestPatchUpdatePolicy(t *testing.T) {
	cfg := testConfig(t)
	srv := serve(t, cfg)
	key := cfg.AdminKey
	cred := storedAgent(t, srv, "agent-1")
	dialVersion(t, srv, cred, "1.0.0", "", []string{protocol.FeatureLogLevel})
	support := "support-key-0123456789abcdefghijklmnop"
	if err := api.EnsureKey(t.Context(), srv.Store, support, "support", store.ScopeSupport, time.Now()); err != nil {
		t.Fatal(err)
	}
	var made struct{ ID, APIKey string }
	if code := apiCall(t, srv, key, "POST", "/apiKeys", map[string]any{"name": "gone", "scope": "client"}, &made); code != 201 || made.APIKey == "" {
		t.Fatalf("create a key: %d", code)
	}
	if code := apiCall(t, srv, key, "DELETE", "/apiKeys/"+made.ID, nil, nil); code != 204 {
		t.Fatalf("delete the key: %d", code)
	}

	var v minAgentView
	for _, p := range []string{"pinned", "pinned", "auto"} {
		if code := apiCall(t, srv, key, "PATCH", "/agents/agent-1", map[string]any{"updatePolicy": p}, &v); code != 200 || v.UpdatePolicy != p {
			t.Fatalf("PATCH updatePolicy %s: %d %+v", p, code, v)
		}
	}
	if evs := eventsOf(t, srv, key, "agent-1", store.EventUpdatePolicyChanged); !slices.Equal(evs, []string{"pinned -> auto", "auto -> pinned"}) {
		t.Errorf("UpdatePolicyChanged events %q, want auto -> pinned then pinned -> auto (the repeat is none)", evs)
	}
	var e struct {
		Error             string
		DetailedErrorCode int
	}
	if code := apiCall(t, srv, support, "PATCH", "/agents/agent-1", map[string]any{"logLevel": "debug", "for": "1m"}, nil); code != 200 {
		t.Errorf("support raising the log level: %d, want 200", code)
	}

	huge := map[string]any{"updatePolicy": strings.Repeat("p", 1<<20)}
	for _, c := range []struct {
		what, key, agent string
		body             any
		want, code       int
	}{
		{"a support key", support, "agent-1", map[string]any{"updatePolicy": "pinned"}, 403, api.CodeForbidden},
		{"a support key, with a log level", support, "agent-1", map[string]any{"updatePolicy": "pinned", "logLevel": "debug", "for": "1m"}, 403, api.CodeForbidden},
		{"a revoked key", made.APIKey, "agent-1", map[string]any{"updatePolicy": "pinned"}, 401, 0},
		{"an agent's credential", cred, "agent-1", map[string]any{"updatePolicy": "pinned"}, 401, 0},
		{"another agent", key, "agent-none", map[string]any{"updatePolicy": "pinned"}, 404, 0},
		{"a bad value", key, "agent-1", map[string]any{"updatePolicy": "never"}, 400, 0},
		{"an empty value", key, "agent-1", map[string]any{"updatePolicy": ""}, 400, 0},
		{"a number", key, "agent-1", map[string]any{"updatePolicy": 1}, 400, 0},
		{"a huge body", key, "agent-1", huge, 413, 0},
	} {
		e.Error, e.DetailedErrorCode = "", 0
		code := apiCall(t, srv, c.key, "PATCH", "/agents/"+c.agent, c.body, &e)
		if code != c.want || e.Error == "" || (c.code != 0 && e.DetailedErrorCode != c.code) {
			t.Errorf("PATCH with %s: %d %+v, want %d (code %d) in the error shape", c.what, code, e, c.want, c.code)
		}
	}
	if apiCall(t, srv, key, "GET", "/agents/agent-1", nil, &v); v.UpdatePolicy != "auto" {
		t.Errorf("after the refused patches the policy is %q, want auto", v.UpdatePolicy)
	}
}
