package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// hookLog is a webhook receiver keeping every delivery's body.
type hookLog struct {
	mu  sync.Mutex
	got []json.RawMessage
}

func (l *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.got = append(l.got, body)
	l.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// ofType returns the bodies of the deliveries of event type typ.
func (l *hookLog) ofType(typ string) []json.RawMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []json.RawMessage
	for _, b := range l.got {
		var env struct{ EventType string }
		if json.Unmarshal(b, &env) == nil && env.EventType == typ {
			out = append(out, b)
		}
	}
	return out
}

// link posts an agent's link request with code, no credential, and
// returns the status and the protocol error's code and message.
func link(t *testing.T, srv *Server, code string) (int, protocol.Code, string) {
	t.Helper()
	body, _ := json.Marshal(protocol.LinkRequest{Code: code, PlatformKey: "csv", Hostname: "pc", OS: "linux", AgentVersion: "test"})
	resp, err := http.Post("http://"+srv.Addr()+protocol.LinkPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var perr protocol.Error
	_ = json.NewDecoder(resp.Body).Decode(&perr)
	return resp.StatusCode, perr.Code, perr.Message
}

// TestConnectionFailedWebhook: an agent's link with an expired code is
// refused, and the code's connection, still PendingAuth, gets the
// LinkCodeExpired error and sends connection.failed in Codat's shape
// (referenceCompany, connection with its dataConnectionErrors). The same
// code again, a code nobody was given, and a malformed one are refused
// without an event, and another connection is untouched; unlinking the
// connection resolves the error, with connection.error.resolved.
func TestConnectionFailedWebhook(t *testing.T) {
	rcv := &hookLog{}
	hooks := httptest.NewServer(rcv)
	defer hooks.Close()
	cfg := testConfig(t)
	cfg.Events.WebhookAllowPrivate = true
	cfg.LinkCodeTTL = time.Nanosecond // every code has expired when it is tried
	srv := serve(t, cfg)
	api := &apiClient{t: t, base: "http://" + srv.Addr(), key: cfg.AdminKey}
	api.post("/webhooks", map[string]any{"url": hooks.URL + "/hook", "eventTypes": []string{
		"connection.failed", "connection.error.raised", "connection.error.resolved"}})
	var co struct{ ID string }
	api.post("/companies", map[string]any{"name": "Acme"}, &co)
	type connection struct {
		ID                   string
		Status               string
		ConnectionInfo       map[string]string
		DataConnectionErrors []struct{ StatusCode, StatusText, Status, ErroredOnUtc, ResolvedOnUtc string }
	}
	var cn, other connection
	api.post("/companies/"+co.ID+"/connections", map[string]any{"platformKey": "csv"}, &cn)
	api.post("/companies/"+co.ID+"/connections", map[string]any{"platformKey": "csv"}, &other)

	status, code, msg := link(t, srv, cn.ConnectionInfo["linkCode"])
	if status != http.StatusBadRequest || code != protocol.CodeBadCode || !strings.Contains(msg, "expired") {
		t.Fatalf("link with an expired code: %d %s %q, want 400 bad_code saying expired", status, code, msg)
	}
	waitFor(t, "connection.failed", func() bool { return len(rcv.ofType("connection.failed")) == 1 })
	var failed struct {
		ID, EventType string
		Payload       struct {
			ReferenceCompany struct{ ID, Name string }
			Connection       struct {
				ID, IntegrationID, IntegrationKey, SourceID, PlatformName, SourceType, Status string
				DataConnectionErrors                                                          []struct{ StatusCode, StatusText, ErrorMessage, ErroredOnUtc, Status string }
			}
		}
	}
	if err := json.Unmarshal(rcv.ofType("connection.failed")[0], &failed); err != nil {
		t.Fatal(err)
	}
	p := failed.Payload
	if p.ReferenceCompany.ID != co.ID || p.ReferenceCompany.Name != "Acme" || p.Connection.ID != cn.ID ||
		p.Connection.Status != "PendingAuth" || p.Connection.IntegrationKey != "csv" || p.Connection.SourceType != "Accounting" ||
		p.Connection.IntegrationID == "" || p.Connection.SourceID == "" || p.Connection.PlatformName != "CSV files" {
		t.Errorf("connection.failed payload %+v", p)
	}
	if errs := p.Connection.DataConnectionErrors; len(errs) != 1 || errs[0].StatusCode != "410" || errs[0].StatusText != "LinkCodeExpired" ||
		errs[0].Status != "Active" || errs[0].ErrorMessage == "" || errs[0].ErroredOnUtc == "" {
		t.Errorf("connection.failed dataConnectionErrors %+v, want the Active LinkCodeExpired", errs)
	}
	var got connection
	if s, out := api.do("GET", "/companies/"+co.ID+"/connections/"+cn.ID, nil); s != 200 || json.Unmarshal(out, &got) != nil {
		t.Fatalf("GET connection: %d %s", s, out)
	}
	if got.Status != "PendingAuth" || len(got.DataConnectionErrors) != 1 || got.DataConnectionErrors[0].StatusText != "LinkCodeExpired" ||
		got.DataConnectionErrors[0].Status != "Active" {
		t.Errorf("the connection after the failed link: %+v", got)
	}

	for _, tt := range []struct{ name, code string }{
		{"the same code again", cn.ConnectionInfo["linkCode"]},
		{"a code nobody was given", "ABCD-EFGH"},
		{"a malformed code", "nope"},
	} {
		if status, code, _ := link(t, srv, tt.code); status != http.StatusBadRequest || code != protocol.CodeBadCode {
			t.Errorf("%s: %d %s, want 400 bad_code", tt.name, status, code)
		}
	}
	if s, out := api.do("GET", "/companies/"+co.ID+"/connections/"+other.ID, nil); s != 200 || strings.Contains(string(out), "dataConnectionErrors") {
		t.Errorf("the other connection after the refusals: %d %s", s, out)
	}

	if s, out := api.do("PATCH", "/companies/"+co.ID+"/connections/"+cn.ID, map[string]any{"status": "Unlinked"}); s != 200 {
		t.Fatalf("unlink: %d %s", s, out)
	}
	waitFor(t, "connection.error.resolved", func() bool { return len(rcv.ofType("connection.error.resolved")) == 1 })
	if n := len(rcv.ofType("connection.failed")); n != 1 {
		t.Errorf("connection.failed sent %d times, want once", n)
	}
	if n := len(rcv.ofType("connection.error.raised")); n != 1 {
		t.Errorf("connection.error.raised sent %d times, want once", n)
	}
	got = connection{}
	_, out := api.do("GET", "/companies/"+co.ID+"/connections/"+cn.ID, nil)
	if json.Unmarshal(out, &got) != nil || len(got.DataConnectionErrors) != 1 || got.DataConnectionErrors[0].Status != "Resolved" ||
		got.DataConnectionErrors[0].ResolvedOnUtc == "" {
		t.Errorf("after the unlink: %s, want the error Resolved", out)
	}
}
