package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// evil is untrusted text an agent or its events may carry.
const evil = `<script>alert("x")</script>`

// linkAgent stores an agent bound to the connection "cn" of company "co"
// and returns its credential.
func (e *env) linkAgent(agentID string) string {
	e.t.Helper()
	cred := "fra_test_" + agentID
	if err := e.st.CreateAgent(e.t.Context(), store.Agent{ID: agentID, CredentialHash: hub.HashCredential(cred), Created: time.Now().UTC()}); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.st.UpdateConnection(e.t.Context(), "co", "cn", func(c *store.Connection) error {
		c.Status, c.AgentID = store.Linked, agentID
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

// offlineAgent stores an agent that never connected, with untrusted text
// for a hostname.
func (e *env) offlineAgent(agentID string) {
	e.t.Helper()
	err := e.st.CreateAgent(e.t.Context(), store.Agent{ID: agentID, Hostname: evil, OS: "linux", Version: "0.9.0",
		CredentialHash: hub.HashCredential("fra_" + agentID), Created: time.Now().UTC().Add(-time.Hour)})
	if err != nil {
		e.t.Fatal(err)
	}
}

// agentRun is a real agent (agent/worker) serving "cn" with the CSV sample.
type agentRun struct {
	cancel context.CancelFunc
	done   chan error
}

func (e *env) startAgent(cred string, checks func(context.Context) []protocol.Check) *agentRun {
	e.t.Helper()
	src, err := sources.Open("csv", "../../testdata/sample-csv")
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	w := worker.New(worker.Config{
		Coordinator: e.srv.URL, Credential: cred, Version: "1.2.3-test",
		Bindings: []worker.Binding{{ConnectionID: "cn", CompanyID: "co", Source: src}},
		Logger:   log, HTTP: upload.NewHTTPClient(log, nil), Checks: checks,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	a := &agentRun{cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- w.Run(ctx) }()
	e.t.Cleanup(a.stop)
	return a
}

func (a *agentRun) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// online starts a real agent on "cn" and waits until the hub has it.
func (e *env) online(agentID string, checks func(context.Context) []protocol.Check) *agentRun {
	e.t.Helper()
	a := e.startAgent(e.linkAgent(agentID), checks)
	waitFor(e.t, agentID+" online", func() bool { return e.hub.Online(agentID) })
	return a
}

// row returns the agents table's row of an agent.
func row(t *testing.T, body, agentID string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="agent-` + regexp.QuoteMeta(agentID) + `">.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no row for %s in:\n%s", agentID, body)
	}
	return m
}

func TestAgentsPageShowsWhoIsOnline(t *testing.T) {
	e := newEnv(t, "")
	e.offlineAgent("agent-off")
	e.online("agent-on", nil)
	b := e.signedIn(supportKey)

	resp, body := b.get("/portal/agents")
	if resp.StatusCode != 200 {
		t.Fatalf("agents page: %d\n%s", resp.StatusCode, body)
	}
	on, off := row(t, body, "agent-on"), row(t, body, "agent-off")
	for _, want := range []string{`presence">Online`, worker.Hostname(), "1.2.3-test", "127.0.0.1:", " ms",
		`href="/portal/companies/co">Acme Ltd</a>`, "served"} {
		if !strings.Contains(on, want) {
			t.Errorf("online agent's row lacks %q:\n%s", want, on)
		}
	}
	if !strings.Contains(off, `presence">Offline`) || !strings.Contains(off, "0.9.0") {
		t.Errorf("offline agent's row:\n%s", off)
	}
	if strings.Index(body, `id="agent-agent-on"`) > strings.Index(body, `id="agent-agent-off"`) {
		t.Error("the online agent is not listed first")
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert") {
		t.Errorf("an agent's hostname is not escaped:\n%s", off)
	}
	if !strings.Contains(body, "1 of 2 online") || !strings.Contains(body, `class="online-count" href="/portal/agents" title="agents online">1 online`) {
		t.Errorf("agents page does not count the online agent:\n%s", body)
	}

	// The company page links the connection's agent, with its presence.
	_, body = b.get("/portal/companies/co")
	if !regexp.MustCompile(`href="/portal/agents/agent-on"><code>agent-on</code></a>\s*<span class="status ok agent-presence">Online`).MatchString(body) {
		t.Errorf("company page does not link the online agent:\n%s", body)
	}
}

func TestAgentPageShowsEventsPagedAndEscaped(t *testing.T) {
	e := newEnv(t, "")
	e.offlineAgent("agent-off")
	at := time.Now().UTC().Add(-time.Hour)
	for i := range eventsPage + 5 {
		ev := store.AgentEvent{ID: fmt.Sprintf("ev-%02d", i), AgentID: "agent-off", At: at.Add(time.Duration(i) * time.Second),
			Type: store.EventDisconnected, Reason: fmt.Sprintf("reason %02d %s", i, evil), Detail: evil}
		if err := e.st.AddAgentEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	b := e.signedIn(supportKey)
	resp, body := b.get("/portal/agents/agent-off")
	if resp.StatusCode != 200 {
		t.Fatalf("agent page: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "reason 24 &lt;script&gt;") {
		t.Errorf("events are not shown escaped:\n%s", body)
	}
	// Newest first, one page, then an "older" link to the rest.
	if !strings.Contains(body, "reason 05") || strings.Contains(body, "reason 04") ||
		strings.Index(body, "reason 24") > strings.Index(body, "reason 23") {
		t.Errorf("first page: want events 24 down to 5, newest first")
	}
	m := regexp.MustCompile(`href="(/portal/agents/agent-off\?before=[^"]+)" id="older"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no older link on the first page")
	}
	_, body = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if !strings.Contains(body, "reason 04") || !strings.Contains(body, "reason 00") || strings.Contains(body, "reason 05") ||
		strings.Contains(body, `id="older"`) || !strings.Contains(body, `id="newest"`) {
		t.Errorf("older page: want events 4 down to 0, a link to the newest, none older:\n%s", body)
	}
	if resp, _ := b.get("/portal/agents/nobody"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown agent: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.get("/portal/agents/agent-off?before=nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown event to page from: %d, want 404", resp.StatusCode)
	}
}

func TestDiagnosticsFromTheAgentPage(t *testing.T) {
	e := newEnv(t, "")
	e.offlineAgent("agent-off")
	e.online("agent-on", func(context.Context) []protocol.Check {
		return []protocol.Check{{Name: protocol.CheckSource, ConnectionID: "cn", Status: protocol.CheckFail, Message: "book is locked " + evil}}
	})
	b := e.signedIn(supportKey)
	_, page := b.get("/portal/agents/agent-on")
	if !strings.Contains(page, `id="run-diagnostics"`) {
		t.Fatalf("no diagnostics button for a support key:\n%s", page)
	}

	// A forged post (no token) runs nothing.
	resp, _ := b.post("/portal/agents/agent-on/diagnostics", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("diagnostics without a token: %d, want 403", resp.StatusCode)
	}
	if _, body := b.get("/portal/agents/agent-on"); strings.Contains(body, `id="diagnostics"`) {
		t.Error("a forged post ran diagnostics")
	}

	resp, _ = b.post("/portal/agents/agent-on/diagnostics", url.Values{"csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/agents/agent-on#diagnostics" {
		t.Fatalf("diagnostics: %d %q, want 303 to the agent page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := b.get("/portal/agents/agent-on")
	checks := regexp.MustCompile(`(?s)<table id="checks">.*?</table>`).FindString(body)
	for _, want := range []string{"A check failed", "1.2.3-test"} {
		if !strings.Contains(body, want) {
			t.Errorf("diagnostics report lacks %q", want)
		}
	}
	for _, want := range []string{`<td>source</td><td><span class="status bad">Fail</span>`, "book is locked &lt;script&gt;",
		`<td>clock</td><td><span class="status ok">Pass</span>`} {
		if !strings.Contains(checks, want) {
			t.Errorf("diagnostics checks lack %q:\n%s", want, checks)
		}
	}
	// Shown once: a reload shows the page without it.
	if _, body := b.get("/portal/agents/agent-on"); strings.Contains(body, `id="checks"`) {
		t.Error("the report is shown again on reload")
	}

	// An offline agent cannot be diagnosed: the page says so.
	_, page = b.get("/portal/agents/agent-off")
	b.post("/portal/agents/agent-off/diagnostics", url.Values{"csrf": {csrfOf(t, page)}})
	_, body = b.get("/portal/agents/agent-off")
	if !strings.Contains(body, `id="diagnostics-error">The agent is offline`) {
		t.Errorf("diagnostics of an offline agent do not say it is offline:\n%s", body)
	}
}

func TestRevokeIsTheClients(t *testing.T) {
	e := newEnv(t, "")
	e.online("agent-on", nil)

	sup := e.signedIn(supportKey)
	_, page := sup.get("/portal/agents/agent-on")
	if strings.Contains(page, `id="revoke"`) {
		t.Error("a support key is offered the revoke button")
	}
	if resp, _ := sup.get("/portal/agents/agent-on/revoke"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke page for a support key: %d, want 403", resp.StatusCode)
	}
	if resp, _ := sup.post("/portal/agents/agent-on/revoke", url.Values{"csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke by a support key: %d, want 403", resp.StatusCode)
	}

	cl := e.signedIn(clientKey)
	_, page = cl.get("/portal/agents/agent-on")
	if !strings.Contains(page, `action="/portal/agents/agent-on/revoke"`) {
		t.Fatalf("no revoke button for a client key:\n%s", page)
	}
	// The button asks first.
	resp, confirm := cl.get("/portal/agents/agent-on/revoke")
	if resp.StatusCode != 200 || !strings.Contains(confirm, `id="confirm-revoke"`) || !strings.Contains(confirm, "Deauthorized") {
		t.Fatalf("revoke confirmation: %d\n%s", resp.StatusCode, confirm)
	}
	if resp, _ := cl.post("/portal/agents/agent-on/revoke", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without a token: %d, want 403", resp.StatusCode)
	}
	if a, _ := e.st.Agent(t.Context(), "agent-on"); !a.Revoked.IsZero() || !e.hub.Online("agent-on") {
		t.Fatal("a refused post revoked the agent")
	}

	resp, _ = cl.post("/portal/agents/agent-on/revoke", url.Values{"csrf": {csrfOf(t, confirm)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/agents/agent-on" {
		t.Fatalf("revoke: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a, _ := e.st.Agent(t.Context(), "agent-on"); a.Revoked.IsZero() {
		t.Error("the agent is not revoked")
	}
	if c, _ := e.st.Connection(t.Context(), "co", "cn"); c.Status != store.Deauthorized {
		t.Errorf("connection of the revoked agent: %s, want Deauthorized", c.Status)
	}
	_, body := cl.get("/portal/agents/agent-on")
	for _, want := range []string{"credential is revoked", `status bad">Revoked`, "revoked in the Portal"} {
		if !strings.Contains(body, want) {
			t.Errorf("agent page after revoking lacks %q", want)
		}
	}
	if strings.Contains(body, `id="revoke"`) {
		t.Error("a revoked agent still has the revoke button")
	}
	waitFor(t, "the revoked agent offline, with the reason", func() bool {
		_, body := cl.get("/portal/agents/agent-on")
		return strings.Contains(body, `presence">Offline`) && strings.Contains(body, "credential revoked")
	})
}

func TestAgentsLiveFollowsAnAgentGoingOffline(t *testing.T) {
	e := newEnv(t, "")
	a := e.online("agent-on", nil)
	b := e.signedIn(supportKey)
	// A stream that stops following would otherwise hang until LiveMax.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	list := b.stream(ctx, "/portal/agents/live")
	one := b.stream(ctx, "/portal/agents/agent-on/live")
	list.until("the agent online in the list", func(d string) bool {
		return strings.Contains(row(t, d, "agent-on"), `presence">Online`)
	})
	one.until("the agent online on its page", func(d string) bool {
		return strings.Contains(d, `presence">Online`) && strings.Contains(d, "Connected")
	})

	a.stop()
	list.until("the agent offline in the list", func(d string) bool {
		return strings.Contains(row(t, d, "agent-on"), `presence">Offline`)
	})
	one.until("the agent offline on its page, with the reason", func(d string) bool {
		return strings.Contains(d, `presence">Offline`) && strings.Contains(d, "closed by agent")
	})
}
