package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestReplicasDiagnostics: with an agent connected to replica A,
// diagnostics asked through replica B's API and Portal reach the agent on
// A, and B answers with its report; B refuses the callers it must, answers
// 409 for an agent no replica holds, and 409 when the agent leaves A
// instead of answering. The Portal's report and flash messages made on
// one replica show on the next page served by the other.
func TestReplicasDiagnostics(t *testing.T) { onBackends(t, testReplicasDiagnostics) }

func testReplicasDiagnostics(t *testing.T, on backend) {
	srvs, _ := replicaSet(t, on, nil, "replica-a", "replica-b")
	a, b := srvs[0], srvs[1]
	admin := testConfig(t).AdminKey
	cred := storedAgent(t, a, "agent-1")
	storedAgent(t, a, "agent-2") // never connects
	var co struct{ ID string }
	if code := apiCall(t, a, admin, "POST", "/companies", map[string]any{"name": "Acme"}, &co); code != 200 {
		t.Fatalf("create company: %d", code)
	}
	conn := store.Connection{ID: "conn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.Linked, Created: time.Now(), AgentID: "agent-1"}
	if err := a.Store.CreateConnection(t.Context(), conn, store.LinkCode{Hash: []byte("code-hash"), CompanyID: co.ID,
		ConnectionID: conn.ID, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var support struct{ ID, APIKey string }
	if code := apiCall(t, a, admin, "POST", "/apiKeys", map[string]any{"name": "desk", "scope": "support"}, &support); code != 201 {
		t.Fatalf("create a support key: %d", code)
	}
	ws := connectAgent(t, a, cred, conn.ID)

	// The API on B, with a support key: the report comes from the agent on A.
	type result struct {
		code int
		view struct {
			AgentID, Hostname string
			Healthy           bool
			Checks            []protocol.Check
		}
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.code = apiCall(t, b, support.APIKey, "POST", "/agents/agent-1/diagnostics", nil, &r.view)
		done <- r
	}()
	answerDiagnose(t, ws, "pc-on-a")
	r := <-done
	if r.code != 200 || r.view.AgentID != "agent-1" || r.view.Hostname != "pc-on-a" || !r.view.Healthy {
		t.Fatalf("diagnostics through B: %d %+v; want 200 with the report of pc-on-a", r.code, r.view)
	}
	var names []string
	for _, c := range r.view.Checks {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "disk,clock" {
		t.Errorf("checks through B: %v, want the agent's disk and A's clock check", names)
	}

	// What B refuses, and an agent no replica holds.
	for _, c := range []struct {
		what, key, agent string
		want             int
	}{
		{"an unknown agent", admin, "agent-none", 404},
		{"an agent never connected", admin, "agent-2", 409},
		{"no key", "", "agent-1", 401},
		{"a wrong key", "wrong-key", "agent-1", 401},
	} {
		if code := apiCall(t, b, c.key, "POST", "/agents/"+c.agent+"/diagnostics", nil, nil); code != c.want {
			t.Errorf("diagnostics through B, %s: %d, want %d", c.what, code, c.want)
		}
	}
	if code := apiCall(t, a, admin, "DELETE", "/apiKeys/"+support.ID, nil, nil); code != 204 {
		t.Fatalf("delete the support key: %d", code)
	}
	if code := apiCall(t, b, support.APIKey, "POST", "/agents/agent-1/diagnostics", nil, nil); code != 401 {
		t.Errorf("diagnostics through B with a deleted key: %d, want 401", code)
	}

	// The Portal: signed in, diagnostics posted on B; A serves the next
	// page, which shows the report once.
	br := newBrowser(t)
	br.signIn(b, admin)
	token := br.csrf(br.get(b, "/portal/agents/agent-1"))
	posted := make(chan int, 1)
	go func() {
		code, _ := br.do(b, "POST", "/portal/agents/agent-1/diagnostics", url.Values{"csrf": {token}})
		posted <- code
	}()
	answerDiagnose(t, ws, "pc-portal")
	if code := <-posted; code != http.StatusSeeOther {
		t.Fatalf("post diagnostics on B: %d, want 303", code)
	}
	if body := br.get(a, "/portal/agents/agent-1"); !strings.Contains(body, `id="checks"`) || !strings.Contains(body, "pc-portal") {
		t.Errorf("the agent page on A after diagnostics on B shows no report of pc-portal:\n%s", body)
	}
	if body := br.get(b, "/portal/agents/agent-1"); strings.Contains(body, `id="diagnostics"`) {
		t.Error("the report is shown a second time")
	}
	// A flash message made on B (revoking agent-2) shows on A, once.
	if code, _ := br.do(b, "POST", "/portal/agents/agent-2/revoke", url.Values{"csrf": {token}}); code != http.StatusSeeOther {
		t.Fatalf("revoke agent-2 on B: %d, want 303", code)
	}
	const flash = "credential is revoked"
	if body := br.get(a, "/portal/agents/agent-2"); !strings.Contains(body, flash) {
		t.Errorf("the page on A after revoking on B has no flash %q", flash)
	}
	if body := br.get(a, "/portal/agents/agent-2"); strings.Contains(body, flash) {
		t.Error("the flash is shown a second time")
	}

	// The agent leaves A instead of answering: B answers offline.
	go func() {
		var r result
		r.code = apiCall(t, b, admin, "POST", "/agents/agent-1/diagnostics", nil, &r.view)
		done <- r
	}()
	expectDiagnose(t, ws)
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	ws.Close()
	if r := <-done; r.code != 409 {
		t.Errorf("diagnostics through B of an agent leaving A: %d, want 409", r.code)
	}
	waitFor(t, "the agent offline", func() bool {
		return apiCall(t, b, admin, "POST", "/agents/agent-1/diagnostics", nil, nil) == 409
	})
}

// expectDiagnose reads an agent's control channel until diagnose comes,
// and returns it.
func expectDiagnose(t *testing.T, ws *websocket.Conn) protocol.Message {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var m protocol.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for diagnose: %v", err)
		}
		if m.Type == protocol.TypeDiagnose {
			return m
		}
	}
}

// answerDiagnose answers the next diagnose on an agent's control channel
// as an agent on host whose disk check passes.
func answerDiagnose(t *testing.T, ws *websocket.Conn, host string) {
	t.Helper()
	m := expectDiagnose(t, ws)
	send(t, ws, protocol.Message{Type: protocol.TypeDiagnostics, ID: "d-" + m.ID, ReplyTo: m.ID, Diagnostics: &protocol.Diagnostics{
		AgentVersion: "test", Hostname: host, OS: "linux", AgentTime: time.Now().UTC(),
		Checks: []protocol.Check{{Name: protocol.CheckDisk, Status: protocol.CheckPass, Message: "plenty"}}}})
}

// browser is one browser's cookies, shared by every replica (cookies
// ignore the port), following no redirect.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request (a form post when form is not nil) and returns the
// status and body.
func (br *browser) do(srv *Server, method, path string, form url.Values) (int, string) {
	req, _ := http.NewRequest(method, "http://"+srv.Addr()+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := br.c.Do(req)
	if err != nil {
		br.t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// get returns a page that must answer 200.
func (br *browser) get(srv *Server, path string) string {
	br.t.Helper()
	code, body := br.do(srv, "GET", path, nil)
	if code != 200 {
		br.t.Fatalf("GET %s on %s: %d", path, srv.ReplicaID(), code)
	}
	return body
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of a page's forms.
func (br *browser) csrf(body string) string {
	br.t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		br.t.Fatalf("no csrf field in:\n%s", body)
	}
	return m[1]
}

// signIn signs in on srv with key.
func (br *browser) signIn(srv *Server, key string) {
	br.t.Helper()
	if code, _ := br.do(srv, "POST", "/portal/signin", url.Values{"csrf": {br.csrf(br.get(srv, "/portal/signin"))}, "key": {key}}); code != http.StatusSeeOther {
		br.t.Fatalf("sign in on %s: %d", srv.ReplicaID(), code)
	}
}
