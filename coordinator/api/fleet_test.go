package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// connectivity reads GET /agents/{id}/connectivity over [from, to),
// checked against the schema.
func (e *supportEnv) connectivity(auth, id string, from, to time.Time) connectivityView {
	e.t.Helper()
	q := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	code, body := e.callWith(auth, "GET", "/agents/"+id+"/connectivity?"+q.Encode(), nil)
	if code != 200 {
		e.t.Fatalf("connectivity of %s: %d %s", id, code, body)
	}
	checkSchema(e.t, "Connectivity", body)
	var v connectivityView
	if err := json.Unmarshal(body, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// spans writes intervals as "Status +start-+end (reason)" in minutes
// after t0.
func spans(t *testing.T, t0 time.Time, ivs []intervalView) string {
	t.Helper()
	var parts []string
	for _, iv := range ivs {
		s, err1 := time.Parse(time.RFC3339Nano, iv.Start)
		en, err2 := time.Parse(time.RFC3339Nano, iv.End)
		if err1 != nil || err2 != nil {
			t.Fatalf("interval times %q %q", iv.Start, iv.End)
		}
		p := fmt.Sprintf("%s +%d-+%d", iv.Status, int(s.Sub(t0).Round(time.Second).Minutes()), int(en.Sub(t0).Round(time.Second).Minutes()))
		if iv.EndReason != "" {
			p += " (" + iv.EndReason + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// TestConnectivityHistory drives a real agent through a real hub on an
// injected clock: it connects, its network dies (heartbeat timeout), it
// comes back, a second process supersedes it, and the coordinator stops
// cleanly; a second agent's history is that of a coordinator that crashed
// (two connections, no disconnect, round trips until the crash). The
// intervals, uptime and disconnects are read through the API, and the
// callers it must refuse are refused.
func TestConnectivityHistory(t *testing.T) {
	e := newSupportEnv(t)
	sup := e.supportKey()
	t0 := e.clock.Now()
	co, conn, cred := e.linkedAgent("agent-h")
	connected := func(n int) func() bool {
		return func() bool {
			c := 0
			for _, ev := range e.events("agent-h") {
				if ev.Type == "Connected" {
					c++
				}
			}
			return c == n
		}
	}

	e.clock.Add(time.Minute)
	px := newProxy(t, e.url, 5*time.Millisecond)
	a := e.startAgent(co, conn, cred, agentOpts{url: px.url(), backoff: time.Hour})
	e.waitFor("the agent connected", connected(1))
	e.waitFor("a round trip", func() bool {
		v := e.agent("agent-h", sup)
		return v.RoundTripMillis != nil && *v.RoundTripMillis > 0
	})
	e.clock.Add(time.Minute)
	if err := e.hub.SampleRoundTrips(t.Context()); err != nil {
		t.Fatal(err)
	}

	e.clock.Add(9 * time.Minute) // +11m: the network dies
	px.freeze()
	e.waitFor("the heartbeat timeout", func() bool { return hasEvent(e.events("agent-h"), "Disconnected", "heartbeat timeout") })
	px.close()
	a.stop()

	e.clock.Add(5 * time.Minute) // +16m: back
	e.startAgent(co, conn, cred, agentOpts{backoff: time.Hour})
	e.waitFor("the agent back", connected(2))

	e.clock.Add(10 * time.Minute) // +26m: a second process supersedes it
	e.startAgent(co, conn, cred, agentOpts{backoff: time.Hour})
	e.waitFor("the supersession", func() bool {
		return connected(3)() && hasEvent(e.events("agent-h"), "Disconnected", "superseded")
	})

	e.clock.Add(10 * time.Minute) // +36m: the coordinator stops
	e.hub.Close()
	e.waitFor("the stop recorded", func() bool { return hasEvent(e.events("agent-h"), "Disconnected", "shutting down") })
	e.clock.Add(10 * time.Minute) // +46m

	got := e.connectivity(sup, "agent-h", t0, e.clock.Now())
	want := "Unknown +0-+1 (agent connected); Online +1-+11 (heartbeat timeout); Offline +11-+16 (agent connected); " +
		"Online +16-+36 (coordinator shutting down); Unknown +36-+46"
	if s := spans(t, t0, got.Intervals); s != want {
		t.Errorf("intervals:\n got %s\nwant %s", s, want)
	}
	if got.Disconnects != 1 || got.UptimePercent == nil || *got.UptimePercent != 85.71 {
		t.Errorf("disconnects %d, uptime %v; want 1 and 85.71 (30 of 35 known minutes)", got.Disconnects, got.UptimePercent)
	}

	// The round trip sampled at +2m.
	var rts roundTripsView
	q := url.Values{"from": {t0.Format(time.RFC3339Nano)}, "to": {e.clock.Now().Format(time.RFC3339Nano)}}
	code, body := e.callWith(sup, "GET", "/agents/agent-h/roundTrips?"+q.Encode(), nil)
	if code != 200 {
		t.Fatalf("round trips: %d %s", code, body)
	}
	checkSchema(t, "RoundTrips", body)
	if err := json.Unmarshal(body, &rts); err != nil {
		t.Fatal(err)
	}
	if rts.ResolutionSeconds != 60 || len(rts.Samples) != 1 || rts.Samples[0].Millis <= 0 ||
		rts.Samples[0].At != apiTime(t0.Add(2*time.Minute).Truncate(time.Minute)) {
		t.Errorf("round trips %+v: want one sample a minute, at +2m", rts)
	}

	// A coordinator that crashed leaves two connections with no
	// disconnect between them: online until its last round trip, then
	// Unknown until the agent connected again; no disconnect.
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.st.CreateAgent(ctx, store.Agent{ID: "agent-c", CredentialHash: []byte("agent-c"), Created: t0}))
	must(e.st.AddAgentEvent(ctx, store.AgentEvent{ID: "c1", AgentID: "agent-c", At: t0.Add(time.Minute), Type: store.EventConnected}))
	for m := 2; m <= 5; m++ {
		must(e.st.PutRoundTrips(ctx, []store.RoundTrip{{AgentID: "agent-c", At: t0.Add(time.Duration(m) * time.Minute).Truncate(time.Minute), Millis: 12}}))
	}
	must(e.st.AddAgentEvent(ctx, store.AgentEvent{ID: "c2", AgentID: "agent-c", At: t0.Add(30 * time.Minute), Type: store.EventConnected}))
	if _, err := e.st.ClaimChannel(ctx, "agent-c", "another-replica"); err != nil {
		t.Fatal(err)
	}
	crash := e.connectivity(sup, "agent-c", t0, e.clock.Now())
	lastSample := int(t0.Add(5 * time.Minute).Truncate(time.Minute).Sub(t0).Round(time.Second).Minutes())
	want = fmt.Sprintf("Unknown +0-+1 (agent connected); Online +1-+%d (coordinator stopped (no disconnect recorded)); "+
		"Unknown +%d-+30 (agent connected); Online +30-+46", lastSample, lastSample)
	if s := spans(t, t0, crash.Intervals); s != want {
		t.Errorf("after a crash:\n got %s\nwant %s", s, want)
	}
	if crash.Disconnects != 0 || crash.UptimePercent == nil || *crash.UptimePercent != 100 {
		t.Errorf("after a crash: disconnects %d, uptime %v; want 0 and 100", crash.Disconnects, crash.UptimePercent)
	}

	// The default range is the last 7 days.
	var def connectivityView
	e.must(200, "GET", "/agents/agent-h/connectivity", nil, &def)
	if def.To != apiTime(e.clock.Now()) || def.From != apiTime(e.clock.Now().Add(-7*24*time.Hour)) {
		t.Errorf("default range %s to %s, want the last 7 days", def.From, def.To)
	}

	// Refusals.
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "gone", "scope": "support"}, &k)
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	now := e.clock.Now()
	for _, tt := range []struct {
		name, auth, path string
		status, code     int
		in               string
	}{
		{"no key", "", "/agents/agent-h/connectivity", 401, CodeUnauthorized, ""},
		{"a revoked key", "Bearer " + k.APIKey, "/agents/agent-h/connectivity", 401, CodeUnauthorized, ""},
		{"a revoked key, fleet", "Bearer " + k.APIKey, "/fleet", 401, CodeUnauthorized, ""},
		{"a revoked key, round trips", "Bearer " + k.APIKey, "/agents/agent-h/roundTrips", 401, CodeUnauthorized, ""},
		{"an unknown agent", sup, "/agents/agent-none/connectivity", 404, CodeNotFound, ""},
		{"an unknown agent's round trips", sup, "/agents/agent-none/roundTrips", 404, CodeNotFound, ""},
		{"a malformed from", sup, "/agents/agent-h/connectivity?from=yesterday", 400, CodeBadParameter, "from"},
		{"a malformed to", sup, "/agents/agent-h/roundTrips?to=2026-13-01", 400, CodeBadParameter, "to"},
		{"from after to", sup, "/agents/agent-h/connectivity?from=" + url.QueryEscape(now.Format(time.RFC3339)) +
			"&to=" + url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339)), 400, CodeBadParameter, "from"},
		{"over 90 days", sup, "/agents/agent-h/connectivity?from=" + url.QueryEscape(now.Add(-91*24*time.Hour).Format(time.RFC3339)),
			400, CodeBadParameter, "90 days"},
	} {
		status, out := e.callWith(tt.auth, "GET", tt.path, nil)
		if tt.in == "" {
			e.apiError(status, out, tt.status, tt.code)
		} else {
			e.apiError(status, out, tt.status, tt.code, tt.in)
		}
	}
	// The client key has every scope, support's included.
	e.must(200, "GET", "/agents/agent-h/connectivity", nil, nil)

	// The fleet: both agents, agent-c online (its channel is held), every
	// status counted.
	code, body = e.callWith(sup, "GET", "/fleet", nil)
	if code != 200 {
		t.Fatalf("GET /fleet: %d %s", code, body)
	}
	checkSchema(t, "Fleet", body)
	var fl fleetView
	if err := json.Unmarshal(body, &fl); err != nil {
		t.Fatal(err)
	}
	if fl.Agents.Total != 2 || fl.Agents.Online != 1 || fl.Agents.Offline != 1 || len(fl.Agents.LongestOffline) != 1 ||
		fl.Agents.LongestOffline[0].ID != "agent-h" || len(fl.DatasetsLast24Hours) != len(dataset.Statuses) {
		t.Errorf("fleet %s: want 2 agents, agent-c online, agent-h offline, every status counted", body)
	}
}
