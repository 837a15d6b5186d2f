package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestAgentsConnectivity follows one agent through what support staff
// must see: offline before it connects; online with its host, version,
// connections, address, round trip and the dataset in its hands; a remote
// diagnostic; offline within the heartbeat timeout when its network dies,
// with the reason; a lease expiry; a new version; a newer connection; a
// revoked credential, and the refused calls after it. Each step is read
// through the API with a support key.
func TestAgentsConnectivity(t *testing.T) {
	e := newSupportEnv(t)
	sup := e.supportKey()
	co, conn, cred := e.linkedAgent("agent-1")

	before := e.agent("agent-1", sup)
	if before.Status != "Offline" || before.ConnectedSince != "" || before.RemoteAddress != "" || before.RoundTripMillis != nil {
		t.Fatalf("before connecting: %+v, want Offline without connection details", before)
	}
	if len(before.Connections) != 1 || before.Connections[0].ID != conn || before.Connections[0].Served {
		t.Errorf("before connecting, connections %+v, want %s not served", before.Connections, conn)
	}

	// Latency towards the agent makes the heartbeat round trip measurable.
	const latency = 30 * time.Millisecond
	px := newProxy(t, e.url, latency)
	queued := e.queue(co, dataset.Invoices).ID
	a := e.startAgent(co, conn, cred, agentOpts{url: px.url(), version: "1.0.0-test", gated: dataset.Invoices,
		checks: func(context.Context) []protocol.Check {
			return []protocol.Check{{Name: protocol.CheckSource, ConnectionID: conn, Status: protocol.CheckFail, Message: "book is locked"}}
		}})

	var on agentView
	e.waitFor("the agent online with the dataset in hand and a round trip", func() bool {
		on = e.agent("agent-1", sup)
		return on.Status == "Online" && len(on.DatasetsInHand) == 1 && on.RoundTripMillis != nil && *on.RoundTripMillis > 0
	})
	checks := []struct {
		field     string
		got, want any
	}{
		{"hostname", on.Hostname, worker.Hostname()},
		{"os", on.OS, worker.OSName()},
		{"agentVersion", on.AgentVersion, "1.0.0-test"},
		{"connections", len(on.Connections), 1},
		{"connection served", on.Connections[0].Served, true},
		{"connection status", on.Connections[0].Status, "Linked"},
		{"connection company", on.Connections[0].CompanyID, co},
		{"in hand", on.DatasetsInHand[0].ID, queued},
		{"in hand status", on.DatasetsInHand[0].Status, "Fetching"},
		{"in hand type", on.DatasetsInHand[0].DataType, "invoices"},
		{"in hand progress", on.DatasetsInHand[0].Progress, 5},
		{"round trip at least the latency", *on.RoundTripMillis >= latency.Milliseconds(), true},
		{"remote address is the proxy's side", strings.HasPrefix(on.RemoteAddress, "127.0.0.1:"), true},
		{"connectedSince set", on.ConnectedSince != "", true},
		{"lastSeen set", on.LastSeen != "", true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("online agent %s: got %v, want %v", c.field, c.got, c.want)
		}
	}

	// A remote diagnostic through the support key: the agent's checks and
	// the coordinator's clock check.
	code, body := e.callWith(sup, "POST", "/agents/agent-1/diagnostics", nil)
	if code != 200 {
		t.Fatalf("diagnostics: %d %s", code, body)
	}
	checkSchema(t, "Diagnostics", body)
	var diag diagnosticsView
	if err := json.Unmarshal(body, &diag); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, c := range diag.Checks {
		names = append(names, c.Name+"/"+string(c.Status))
	}
	if diag.Healthy || !slices.Contains(names, "source/Fail") || !slices.Contains(names, "clock/Pass") ||
		diag.AgentVersion != "1.0.0-test" || diag.RoundTripMillis < latency.Milliseconds() {
		t.Errorf("diagnostics %+v (checks %v): want unhealthy, the source failure, a passing clock, the version, the round trip", diag, names)
	}

	// The network dies: the coordinator hears nothing and closes the
	// channel after three heartbeats.
	// (The reason, heartbeat timeout, says it was the three-heartbeat read
	// deadline that ended it, not a close.)
	px.freeze()
	e.waitFor("the agent offline", func() bool { return e.agent("agent-1", sup).Status == "Offline" })
	off := e.agent("agent-1", sup)
	if off.ConnectedSince != "" || off.LastSeen == "" || len(off.DatasetsInHand) != 0 || off.Connections[0].Served {
		t.Errorf("offline agent %+v: want lastSeen, no live details", off)
	}
	// The hub marks the agent offline before it writes the Disconnected
	// event: wait for the event.
	e.waitFor("the Disconnected event", func() bool { return hasEvent(e.events("agent-1"), "Disconnected", "heartbeat timeout") })
	if evs := e.events("agent-1"); !hasEvent(evs, "Connected", "1.0.0-test") {
		t.Errorf("events %+v: want Connected", evs)
	}
	e.apiError2(sup, "POST", "/agents/agent-1/diagnostics", 409, CodeAgentOffline, "offline")

	// Its lease expires: an event names the dataset.
	e.clock.Add(testLeaseTTL + time.Second)
	e.hub.ExpireLeases(t.Context())
	evs := e.events("agent-1")
	if !slices.ContainsFunc(evs, func(ev agentEventView) bool { return ev.Type == "LeaseExpired" && ev.DatasetID == queued }) {
		t.Errorf("events %+v: want LeaseExpired for %s", evs, queued)
	}
	// The agent may be redialling through the frozen network, a dial
	// that would hold its stop up to its handshake timeout: the network
	// goes for good first.
	px.close()
	a.stop()

	// A new version connects, then a second process with the same
	// credential supersedes it.
	v2 := e.startAgent(co, conn, cred, agentOpts{version: "1.1.0-test", backoff: time.Hour})
	// Welcomed (its Connected event), not only past its hello: a second
	// process superseding it during its handshake would leave no
	// Disconnected event to wait for.
	e.waitFor("the new version online", func() bool {
		return e.agent("agent-1", sup).AgentVersion == "1.1.0-test" && hasEvent(e.events("agent-1"), "Connected", "1.1.0-test")
	})
	e.startAgent(co, conn, cred, agentOpts{version: "1.1.0-test", backoff: time.Hour})
	e.waitFor("the older connection superseded", func() bool {
		return hasEvent(e.events("agent-1"), "Disconnected", "superseded by a newer connection")
	})
	if !hasEvent(e.events("agent-1"), "VersionChanged", "1.0.0-test -> 1.1.0-test") {
		t.Errorf("events %+v: want VersionChanged 1.0.0-test -> 1.1.0-test", e.events("agent-1"))
	}
	v2.stop()
	e.waitFor("the newest connection online", func() bool { return e.agent("agent-1", sup).Status == "Online" })

	// Revoking is the client's: support may not.
	e.apiError2(sup, "POST", "/agents/agent-1/revoke", 403, CodeForbidden)
	var revoked agentView
	body = e.must(200, "POST", "/agents/agent-1/revoke", nil, &revoked)
	checkSchema(t, "Agent", body)
	if revoked.Revoked == "" {
		t.Errorf("revoked agent %+v: want revoked set", revoked)
	}
	e.waitFor("the revoked agent offline", func() bool { return e.agent("agent-1", sup).Status == "Offline" })
	if c := e.agent("agent-1", sup).Connections[0]; c.Status != "Deauthorized" {
		t.Errorf("connection of a revoked agent: %s, want Deauthorized", c.Status)
	}
	e.waitFor("the disconnect for the revocation recorded", func() bool {
		return hasEvent(e.events("agent-1"), "Disconnected", "credential revoked")
	})
	if !hasEvent(e.events("agent-1"), "CredentialRevoked", "") {
		t.Errorf("events: want CredentialRevoked")
	}

	// The credential is refused from now on, and the refusal is recorded.
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.url, "http")+protocol.ConnectPath,
		http.Header{"Authorization": {"Bearer " + cred}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("dial with a revoked credential: %v %v, want 401", err, resp)
	}
	// Refusals are recorded at most once a minute per agent (the first one
	// names its call, here the upload or the dial, whichever came first).
	if !hasEvent(e.events("agent-1"), "CredentialRefused", "") {
		t.Errorf("events %+v: want CredentialRefused", e.events("agent-1"))
	}
}

// apiError2 calls with auth and checks the error.
func (e *env) apiError2(auth, method, path string, wantStatus, wantCode int, wantIn ...string) {
	e.t.Helper()
	code, body := e.callWith(auth, method, path, nil)
	e.apiError(code, body, wantStatus, wantCode, wantIn...)
}

// TestAgentEventsPaged: events are newest first, paged and queryable like
// the rest of the API.
func TestAgentEventsPaged(t *testing.T) {
	e := newSupportEnv(t)
	co, conn, cred := e.linkedAgent("agent-p")
	for i := range 3 {
		a := e.startAgent(co, conn, cred, agentOpts{version: "v" + string(rune('1'+i))})
		e.waitFor("online", func() bool { return e.agent("agent-p", "Bearer "+adminKey).Status == "Online" })
		a.stop()
		e.waitFor("offline", func() bool { return e.agent("agent-p", "Bearer "+adminKey).Status == "Offline" })
	}
	var page struct {
		Results      []agentEventView `json:"results"`
		TotalResults int              `json:"totalResults"`
	}
	body := e.must(200, "GET", "/agents/agent-p/events?pageSize=2&query="+urlq("type=Connected"), nil, &page)
	checkSchema(t, "AgentEvents", body)
	if page.TotalResults != 3 || len(page.Results) != 2 || page.Results[0].Detail != "version v3" || page.Results[1].Detail != "version v2" {
		t.Errorf("connected events page 1 of 2: %+v, want v3, v2 of 3", page)
	}
	all := e.events("agent-p")
	if !hasEvent(all, "Disconnected", "closed by agent") {
		t.Errorf("events %+v: want a Disconnected closed by agent, for an agent that stopped", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].At < all[i].At {
			t.Errorf("events not newest first: %s before %s", all[i-1].At, all[i].At)
		}
	}
	e.apiError2("Bearer "+adminKey, "GET", "/agents/nobody/events", 404, CodeNotFound)
	e.apiError2("Bearer "+adminKey, "GET", "/agents/nobody", 404, CodeNotFound)

	var agents struct {
		Results      []agentView `json:"results"`
		TotalResults int         `json:"totalResults"`
	}
	body = e.must(200, "GET", "/agents?query="+urlq("status=Offline"), nil, &agents)
	checkSchema(t, "Agents", body)
	if agents.TotalResults != 1 || agents.Results[0].ID != "agent-p" || agents.Results[0].AgentVersion != "v3" {
		t.Errorf("GET /agents?query=status=Offline: %+v", agents)
	}
	e.must(200, "GET", "/agents?query="+urlq("status=Online"), nil, &agents)
	if agents.TotalResults != 0 {
		t.Errorf("GET /agents?query=status=Online: %d agents, want 0", agents.TotalResults)
	}
}

// TestMetricsMove scrapes /metrics as datasets move: queued, dispatched,
// uploaded, complete, and a lease that expires.
func TestMetricsMove(t *testing.T) {
	e := newSupportEnv(t)
	sup := e.supportKey()
	co, conn, cred := e.linkedAgent("agent-m")
	m0 := e.scrape(sup)
	if m0["ferry_agents_online"] != 0 || m0[`ferry_datasets{status="Queued"}`] != 0 || m0["ferry_upload_records_total"] != 0 {
		t.Fatalf("before anything: agents %v, queued %v, records %v", m0["ferry_agents_online"], m0[`ferry_datasets{status="Queued"}`], m0["ferry_upload_records_total"])
	}
	done := e.queue(co, dataset.TaxRates).ID
	stuck := e.queue(co, dataset.Invoices).ID
	if m := e.scrape(sup); m[`ferry_datasets{status="Queued"}`] != 2 {
		t.Errorf("two queued: ferry_datasets{Queued} = %v", m[`ferry_datasets{status="Queued"}`])
	}
	e.startAgent(co, conn, cred, agentOpts{version: "m", gated: dataset.Invoices})
	status := func(id string) dataset.Status {
		var op pullOperation
		e.must(200, "GET", "/companies/"+co+"/data/history/"+id, nil, &op)
		return op.Status
	}
	e.waitFor("taxRates complete, invoices in the agent's hands", func() bool {
		return status(done) == dataset.Complete && status(stuck) == dataset.Fetching
	})
	// The hub counts an ended dataset just after the store has it Complete,
	// which the API may show first.
	e.waitFor("taxRates counted as ended", func() bool {
		return e.scrape(sup)[`ferry_datasets_ended_total{status="Complete"}`] == 1
	})
	m1 := e.scrape(sup)
	want := map[string]float64{
		"ferry_agents_online":                                     1,
		`ferry_datasets{status="Complete"}`:                       1,
		`ferry_datasets{status="Fetching"}`:                       1,
		`ferry_datasets{status="Queued"}`:                         0,
		"ferry_dispatch_latency_seconds_count":                    2,
		`ferry_dataset_duration_seconds_count{status="Complete"}`: 1,
		`ferry_datasets_ended_total{status="Complete"}`:           1,
		"ferry_upload_records_total":                              2, // taxRates.csv has two rows
		`ferry_agent_events_total{type="Connected"}`:              1,
		`ferry_api_requests_total{code="200",route="POST /companies/{companyId}/data/queue/{dataType}"}`: 2,
	}
	for series, v := range want {
		if m1[series] != v {
			t.Errorf("%s = %v, want %v", series, m1[series], v)
		}
	}
	if m1["ferry_upload_bytes_total"] <= 0 {
		t.Errorf("ferry_upload_bytes_total = %v, want the page's bytes", m1["ferry_upload_bytes_total"])
	}
	e.clock.Add(testLeaseTTL + time.Second)
	e.hub.ExpireLeases(t.Context())
	m2 := e.scrape(sup)
	if m2["ferry_lease_expiries_total"] != 1 {
		t.Errorf("after the invoices lease expired: ferry_lease_expiries_total = %v, want 1", m2["ferry_lease_expiries_total"])
	}
	// The support key reads metrics; no key does not.
	code, _ := e.callWith("", "GET", "/metrics", nil)
	if code != 401 {
		t.Errorf("GET /metrics without a key: %d, want 401", code)
	}
}
