package server

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

type rolloutView struct {
	Version, Status, HaltReason        string
	CanaryCount, MaxInFlight           int
	Updated, Failed, Pending, InFlight int
	Canaries, Agents                   []struct{ AgentID, Status, Reason string }
	Error                              string
}

// fleetAgent is a test agent speaking the protocol over the real
// websocket: it answers updates as the test says.
type fleetAgent struct {
	t       *testing.T
	srv     *Server
	id      string
	cred    string
	ws      *websocket.Conn
	version string
}

func newFleetAgent(t *testing.T, srv *Server, id, version string) *fleetAgent {
	a := &fleetAgent{t: t, srv: srv, id: id, cred: storedAgent(t, srv, id), version: version}
	a.ws = versionAgent(t, srv, a.cred, version, []string{protocol.FeatureUpdate})
	return a
}

// update waits for an update and returns it.
func (a *fleetAgent) update() protocol.Message {
	a.t.Helper()
	return expectType(a.t, a.ws, protocol.TypeUpdate)
}

// report sends an update status and waits for its ack.
func (a *fleetAgent) report(event, to, step, reason string) {
	a.t.Helper()
	id := fmt.Sprintf("%s-%s-%d", a.id, event, time.Now().UnixNano())
	send(a.t, a.ws, protocol.Message{Type: protocol.TypeUpdateStatus, ID: id, UpdateStatus: &protocol.UpdateStatus{
		Event: event, From: a.version, To: to, Step: step, Reason: reason}})
	if ack := expectType(a.t, a.ws, protocol.TypeAck); ack.ReplyTo != id {
		a.t.Fatalf("%s: ack %+v, want one for %s", a.id, ack, id)
	}
}

// take acks the update m and updates: started, then the new version
// connects and reports its success.
func (a *fleetAgent) take(m protocol.Message) {
	a.t.Helper()
	send(a.t, a.ws, protocol.Message{Type: protocol.TypeAck, ID: a.id + "-ack", ReplyTo: m.ID})
	a.report(protocol.UpdateStarted, m.Update.Version, "", "")
	a.ws.Close()
	old := a.version
	a.version = m.Update.Version
	a.ws = versionAgent(a.t, a.srv, a.cred, a.version, []string{protocol.FeatureUpdate})
	send(a.t, a.ws, protocol.Message{Type: protocol.TypeUpdateStatus, ID: a.id + "-ok", UpdateStatus: &protocol.UpdateStatus{
		Event: protocol.UpdateSucceeded, From: old, To: a.version}})
	if ack := expectType(a.t, a.ws, protocol.TypeAck); ack.ReplyTo != a.id+"-ok" {
		a.t.Fatalf("%s: ack %+v, want one for its success", a.id, ack)
	}
}

func (a *fleetAgent) answer(m protocol.Message, code protocol.Code, msg string) {
	a.t.Helper()
	send(a.t, a.ws, protocol.Message{Type: protocol.TypeError, ID: a.id + "-no", ReplyTo: m.ID, Error: &protocol.Error{Code: code, Message: msg}})
}

func getRollout(t *testing.T, srv *Server, key, version string) rolloutView {
	t.Helper()
	var v rolloutView
	if code := apiCall(t, srv, key, "GET", "/agentReleases/"+version+"/rollout", nil, &v); code != 200 {
		t.Fatalf("GET rollout of %s: %d %s", version, code, v.Error)
	}
	return v
}

func waitRollout(t *testing.T, srv *Server, key, version, what string, cond func(rolloutView) bool) rolloutView {
	t.Helper()
	var v rolloutView
	waitFor(t, what, func() bool { v = getRollout(t, srv, key, version); return cond(v) })
	return v
}

// TestRollout: a rollout of a verified release with one canary asks the
// canary alone first (asking again after it was busy), then the others,
// at most maxInFlight at a time; an offline agent waits until it
// connects; a pinned agent and one that cannot update itself are left
// out; it completes. A rollout whose canary refuses halts, and the others
// are never asked. Pause, resume and halt steer it; callers that may not,
// and bad requests, are refused.
func TestRollout(t *testing.T) {
	rootPub, root := newEd25519(t)
	good := signingKey(t, root)
	dir := t.TempDir()
	for _, v := range []string{"1.1.0", "1.2.0", "1.3.0", "0.9.0"} {
		writeRelease(t, dir, v, good, nil)
	}
	tampered := filepath.Join(dir, "releases", "0.9.0", "ferry-agent-0.9.0-linux-amd64.tar.gz")
	if err := os.WriteFile(tampered, []byte("not the agent"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Downloads, cfg.ReleaseRoots = dir, release.FormatPublicKey(rootPub)
	cfg.RolloutInterval, cfg.RolloutRetry = 20*time.Millisecond, 200*time.Millisecond
	srv := serve(t, cfg)
	admin := cfg.AdminKey
	waitFor(t, "the leader", srv.Leading)

	canary := newFleetAgent(t, srv, "agent-1", "1.0.0")
	a2 := newFleetAgent(t, srv, "agent-2", "1.0.0")
	a3 := newFleetAgent(t, srv, "agent-3", "1.0.0")
	pinned := newFleetAgent(t, srv, "agent-pinned", "1.0.0")
	if _, err := srv.Store.UpdateAgent(t.Context(), "agent-pinned", func(a *store.Agent) error { a.UpdatePolicy = store.UpdatePinned; return nil }); err != nil {
		t.Fatal(err)
	}
	helloAgent(t, srv, storedAgent(t, srv, "agent-noupdate"), nil)
	offCred := storedAgent(t, srv, "agent-off")
	if _, err := srv.Store.UpdateAgent(t.Context(), "agent-off", func(a *store.Agent) error {
		a.Version, a.Features = "1.0.0", []string{protocol.FeatureUpdate}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var v rolloutView
	if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.1.0/rollout",
		map[string]any{"canaryCount": 1, "maxInFlight": 2, "haltOnFailure": true}, &v); code != 201 {
		t.Fatalf("POST rollout: %d %s", code, v.Error)
	}
	if v.Status != "Running" || len(v.Canaries) != 1 || v.Canaries[0].AgentID != "agent-1" || len(v.Agents) != 4 || v.Pending != 4 {
		t.Fatalf("rollout %+v; want Running, canary agent-1, four agents pending (not the pinned one, nor the one that cannot update)", v)
	}
	hostileRollouts(t, srv, admin)

	// The canary, alone: busy first, asked again, then takes it.
	m := canary.update()
	if m.Update.Version != "1.1.0" || m.Update.HealthMillis != int64(2*time.Minute/time.Millisecond) || m.Update.Reason != "rollout" {
		t.Fatalf("canary's update %+v", m.Update)
	}
	canary.answer(m, protocol.CodeBusy, "a dataset in hand")
	m = canary.update()
	send(t, canary.ws, protocol.Message{Type: protocol.TypeAck, ID: "c-ack", ReplyTo: m.ID})
	canary.report(protocol.UpdateStarted, "1.1.0", "", "")
	v = waitRollout(t, srv, admin, "1.1.0", "the canary updating", func(v rolloutView) bool { return v.InFlight == 1 })
	if v.Pending != 3 || v.Canaries[0].Status != "Updating" {
		t.Fatalf("with the canary updating: %+v", v)
	}
	noUpdate(t, a2.ws)
	noUpdate(t, a3.ws)
	canary.ws.Close()
	canary.version = "1.1.0"
	canary.ws = versionAgent(t, srv, canary.cred, "1.1.0", []string{protocol.FeatureUpdate})
	canary.report(protocol.UpdateSucceeded, "1.1.0", "", "")
	// (reported by the new version: From is what it runs now)

	// Then the others, two at a time; the offline one waits.
	m2, m3 := a2.update(), a3.update()
	v = waitRollout(t, srv, admin, "1.1.0", "two in flight", func(v rolloutView) bool { return v.InFlight == 2 })
	if v.Updated != 1 || v.Pending != 1 {
		t.Fatalf("after the canary: %+v; want 1 updated, 2 in flight, the offline one pending", v)
	}
	a2.take(m2)
	a3.take(m3)
	v = waitRollout(t, srv, admin, "1.1.0", "three updated", func(v rolloutView) bool { return v.Updated == 3 })
	if v.Status != "Running" || v.Pending != 1 {
		t.Fatalf("with the offline agent left: %+v", v)
	}
	off := &fleetAgent{t: t, srv: srv, id: "agent-off", cred: offCred, version: "1.0.0"}
	off.ws = versionAgent(t, srv, offCred, "1.0.0", []string{protocol.FeatureUpdate})
	off.take(off.update())
	v = waitRollout(t, srv, admin, "1.1.0", "complete", func(v rolloutView) bool { return v.Status == "Complete" })
	if v.Updated != 4 || v.Failed != 0 || v.Pending != 0 || v.InFlight != 0 {
		t.Fatalf("complete: %+v", v)
	}
	noUpdate(t, pinned.ws)

	// 1.2.0: the canary refuses; the rollout halts, nobody else is asked.
	if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.2.0/rollout", map[string]any{"canaryCount": 1, "maxInFlight": 5}, &v); code != 201 {
		t.Fatalf("POST rollout of 1.2.0: %d %s", code, v.Error)
	}
	canary.answer(canary.update(), protocol.CodeUpdateRefused, "unknownKey: the manifest's key is not trusted")
	v = waitRollout(t, srv, admin, "1.2.0", "halted", func(v rolloutView) bool { return v.Status == "Halted" })
	if v.Failed != 1 || !strings.Contains(v.HaltReason, "agent-1") || !strings.Contains(v.Canaries[0].Reason, "refused: unknownKey") {
		t.Fatalf("halted: %+v", v)
	}
	for _, a := range []*fleetAgent{a2, a3, off} {
		noUpdate(t, a.ws)
	}

	// 1.3.0, no canary, one at a time: paused, resumed, halted.
	if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.3.0/rollout", map[string]any{"canaryCount": 0, "maxInFlight": 1, "haltOnFailure": false}, &v); code != 201 {
		t.Fatalf("POST rollout of 1.3.0: %d %s", code, v.Error)
	}
	steer := func(action string, want int) rolloutView {
		t.Helper()
		var v rolloutView
		if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.3.0/rollout/"+action, nil, &v); code != want {
			t.Fatalf("%s: %d %s, want %d", action, code, v.Error, want)
		}
		return v
	}
	if v := steer("pause", 200); v.Status != "Paused" {
		t.Fatalf("paused: %+v", v)
	}
	if code := apiCall(t, srv, admin, "POST", "/agentReleases/1.1.0/rollout", map[string]any{}, &v); code != 409 {
		t.Fatalf("a rollout while one is paused: %d, want 409", code)
	}
	v = waitRollout(t, srv, admin, "1.3.0", "nothing in flight while paused", func(v rolloutView) bool { return v.InFlight == 0 })
	if v := steer("resume", 200); v.Status != "Running" {
		t.Fatalf("resumed: %+v", v)
	}
	v = waitRollout(t, srv, admin, "1.3.0", "one in flight", func(v rolloutView) bool { return v.InFlight == 1 })
	if v := steer("halt", 200); v.Status != "Halted" || v.HaltReason == "" {
		t.Fatalf("halted: %+v", v)
	}
	steer("halt", 200)
	steer("resume", 409)
	steer("pause", 409)
}

// hostileRollouts: callers that may not start or read rollouts, and bad
// requests, while the rollout of 1.1.0 runs.
func hostileRollouts(t *testing.T, srv *Server, admin string) {
	t.Helper()
	var support, revoked struct{ ID, APIKey string }
	if code := apiCall(t, srv, admin, "POST", "/apiKeys", map[string]any{"name": "desk", "scope": "support"}, &support); code != 201 {
		t.Fatalf("create a support key: %d", code)
	}
	if code := apiCall(t, srv, admin, "POST", "/apiKeys", map[string]any{"name": "old", "scope": "client"}, &revoked); code != 201 {
		t.Fatalf("create a client key: %d", code)
	}
	if code := apiCall(t, srv, admin, "DELETE", "/apiKeys/"+revoked.ID, nil, nil); code != 204 && code != 200 {
		t.Fatalf("delete a key: %d", code)
	}
	body := map[string]any{"canaryCount": 1, "maxInFlight": 2}
	for _, c := range []struct {
		what, key, method, path string
		body                    any
		want, code              int
	}{
		{"a support key starts", support.APIKey, "POST", "/agentReleases/1.2.0/rollout", body, 403, 20002},
		{"a support key pauses", support.APIKey, "POST", "/agentReleases/1.1.0/rollout/pause", nil, 403, 20002},
		{"a support key halts", support.APIKey, "POST", "/agentReleases/1.1.0/rollout/halt", nil, 403, 20002},
		{"a deleted key", revoked.APIKey, "POST", "/agentReleases/1.2.0/rollout", body, 401, 20001},
		{"no key", "", "GET", "/agentReleases/1.1.0/rollout", nil, 401, 20001},
		{"an unknown release", admin, "POST", "/agentReleases/7.0.0/rollout", body, 404, 30001},
		{"not a version", admin, "POST", "/agentReleases/latest/rollout", body, 404, 30001},
		{"an unverified release", admin, "POST", "/agentReleases/0.9.0/rollout", body, 409, 40004},
		{"a second rollout", admin, "POST", "/agentReleases/1.2.0/rollout", body, 409, 40004},
		{"maxInFlight 0", admin, "POST", "/agentReleases/1.2.0/rollout", map[string]any{"maxInFlight": 0}, 400, 10003},
		{"canaryCount -1", admin, "POST", "/agentReleases/1.2.0/rollout", map[string]any{"canaryCount": -1}, 400, 10003},
		{"an unknown field", admin, "POST", "/agentReleases/1.2.0/rollout", map[string]any{"canaries": 1}, 400, 10001},
		{"a string", admin, "POST", "/agentReleases/1.2.0/rollout", map[string]any{"maxInFlight": "5"}, 400, 10001},
		{"no rollout to read", admin, "GET", "/agentReleases/1.2.0/rollout", nil, 404, 30001},
		{"no rollout to pause", admin, "POST", "/agentReleases/1.2.0/rollout/pause", nil, 404, 30001},
	} {
		var e struct {
			Error             string
			DetailedErrorCode int
		}
		if code := apiCall(t, srv, c.key, c.method, c.path, c.body, &e); code != c.want || e.DetailedErrorCode != c.code {
			t.Errorf("%s: %d %d %q, want %d %d", c.what, code, e.DetailedErrorCode, e.Error, c.want, c.code)
		}
	}
	if v := getRollout(t, srv, support.APIKey, "1.1.0"); v.Version != "1.1.0" {
		t.Errorf("a support key reads the rollout: %+v", v)
	}
	// A huge body is refused before it is read whole.
	req, _ := http.NewRequest("POST", "http://"+srv.Addr()+"/agentReleases/1.2.0/rollout",
		bytes.NewReader(append([]byte(`{"canaryCount":1,"x":"`), bytes.Repeat([]byte("a"), 2<<20)...)))
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("a huge body: %d, want 413", resp.StatusCode)
	}
}

// TestRolloutLeaderMoves: two replicas; the agents and the client use the
// one that does not lead. The leader asks the canary, then stops; the
// other takes the lead and goes on from the store: the canary's success
// lets the next agent be asked, and the rollout completes.
func TestRolloutLeaderMoves(t *testing.T) { onBackends(t, testRolloutLeaderMoves) }

func testRolloutLeaderMoves(t *testing.T, on backend) {
	rootPub, root := newEd25519(t)
	dir := t.TempDir()
	writeRelease(t, dir, "1.1.0", signingKey(t, root), nil)
	srvs, stops := replicaSet(t, on, func(c *Config) {
		c.Downloads, c.ReleaseRoots = dir, release.FormatPublicKey(rootPub)
		c.RolloutInterval, c.RolloutRetry = 20*time.Millisecond, time.Minute
	}, "replica-a", "replica-b")
	waitFor(t, "a leader", func() bool { return srvs[0].Leading() || srvs[1].Leading() })
	lead, other := 0, 1
	if srvs[1].Leading() {
		lead, other = 1, 0
	}
	f := srvs[other]
	admin := testConfig(t).AdminKey
	canary := newFleetAgent(t, f, "agent-1", "1.0.0")
	next := newFleetAgent(t, f, "agent-2", "1.0.0")
	var v rolloutView
	if code := apiCall(t, f, admin, "POST", "/agentReleases/1.1.0/rollout", map[string]any{"canaryCount": 1, "maxInFlight": 1}, &v); code != 201 {
		t.Fatalf("POST rollout: %d %s", code, v.Error)
	}
	m := canary.update()
	stops[lead]()
	waitFor(t, "the other to lead", f.Leading)
	canary.take(m)
	next.take(next.update())
	v = waitRollout(t, f, admin, "1.1.0", "complete", func(v rolloutView) bool { return v.Status == "Complete" })
	if v.Updated != 2 {
		t.Fatalf("complete: %+v", v)
	}
}
