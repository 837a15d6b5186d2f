package api

import (
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestConnections(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	var created connectionView
	body := e.must(200, "POST", "/companies/"+co+"/connections", map[string]any{"platformKey": "gnucash"}, &created)
	checkSchema(t, "Connection", body)
	code, _ := created.ConnectionInfo["linkCode"].(string)
	if !regexp.MustCompile(`^[0-9A-Z]{4}-[0-9A-Z]{4}$`).MatchString(code) || linkcode.Normalize(code) == "" {
		t.Errorf("created connectionInfo.linkCode = %q, want a XXXX-XXXX code", code)
	}
	var c connectionView
	body = e.must(200, "GET", "/companies/"+co+"/connections/"+mustID(t, body), nil, &c)
	if c.Status != "PendingAuth" || c.PlatformName != "GnuCash" || c.IntegrationKey != "gnucash" || c.SourceType != "Accounting" {
		t.Errorf("got %+v", c)
	}
	if want := "http://ferry.test/link/" + co + "/" + c.ID + "?token=" + e.srv.links.ConnectionToken(co, c.ID); c.LinkURL != want || created.LinkURL != want {
		t.Errorf("linkUrl = %q (created: %q), want %q", c.LinkURL, created.LinkURL, want)
	}
	if strings.Contains(string(body), code) || c.ConnectionInfo["linkCode"] != nil {
		t.Errorf("GET shows the link code: %s", body)
	}
	if exp := c.ConnectionInfo["linkCodeExpires"]; exp != e.clock.Now().Add(7*24*time.Hour).Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("linkCodeExpires = %v, want 7 days on", exp)
	}

	e.clock.Add(time.Second)
	csv := e.connection(co, "csv")
	var list struct {
		Results      []connectionView `json:"results"`
		TotalResults int              `json:"totalResults"`
	}
	body = e.must(200, "GET", "/companies/"+co+"/connections", nil, &list)
	checkSchema(t, "Connections", body)
	if list.TotalResults != 2 || list.Results[0].ID != c.ID || list.Results[1].ID != csv.ID {
		t.Errorf("list = %+v", list)
	}
	var company companyView
	e.must(200, "GET", "/companies/"+co, nil, &company)
	if len(company.DataConnections) != 2 {
		t.Errorf("company.dataConnections has %d, want 2", len(company.DataConnections))
	}

	// Another company cannot see these connections.
	other := e.company("Other")
	status, out := e.call("GET", "/companies/"+other+"/connections/"+c.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("PATCH", "/companies/"+other+"/connections/"+c.ID, map[string]any{"status": "Unlinked"})
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("DELETE", "/companies/"+other+"/connections/"+c.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)

	// Unlink.
	var unlinked connectionView
	body = e.must(200, "PATCH", "/companies/"+co+"/connections/"+c.ID, map[string]any{"status": "Unlinked"}, &unlinked)
	checkSchema(t, "Connection", body)
	if unlinked.Status != "Unlinked" || unlinked.ConnectionInfo["linkCode"] != nil {
		t.Errorf("after unlink: %+v", unlinked)
	}
	e.must(200, "PATCH", "/companies/"+co+"/connections/"+c.ID, map[string]any{"status": "Unlinked"}, nil)

	// Delete.
	e.must(200, "DELETE", "/companies/"+co+"/connections/"+csv.ID, nil, nil)
	status, out = e.call("GET", "/companies/"+co+"/connections/"+csv.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
}

func TestConnectionBadInput(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	tests := []struct {
		name, method, path string
		body               any
		status, code       int
		mention            string
	}{
		{"unknown platform", "POST", "/companies/" + co + "/connections", map[string]any{"platformKey": "xero"}, 400, CodeInvalidField, "gnucash, csv"},
		{"no platform", "POST", "/companies/" + co + "/connections", map[string]any{}, 400, CodeInvalidField, "platformKey"},
		{"unknown company", "POST", "/companies/nope/connections", map[string]any{"platformKey": "csv"}, 404, CodeNotFound, ""},
		{"list unknown company", "GET", "/companies/nope/connections", nil, 404, CodeNotFound, ""},
		{"set Linked", "PATCH", "/companies/" + co + "/connections/" + conn.ID, map[string]any{"status": "Linked"}, 400, CodeInvalidField, "Unlinked"},
		{"no status", "PATCH", "/companies/" + co + "/connections/" + conn.ID, map[string]any{}, 400, CodeInvalidField, "Unlinked"},
		{"extra field", "PATCH", "/companies/" + co + "/connections/" + conn.ID, map[string]any{"status": "Unlinked", "x": 1}, 400, CodeBadJSON, "x"},
		{"unknown connection", "GET", "/companies/" + co + "/connections/nope", nil, 404, CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.call(tt.method, tt.path, tt.body)
			e.apiError(status, out, tt.status, tt.code, tt.mention)
		})
	}
	var c connectionView
	e.must(200, "GET", "/companies/"+co+"/connections/"+conn.ID, nil, &c)
	if c.Status != "PendingAuth" {
		t.Errorf("refused patches changed the status to %s", c.Status)
	}
}

func TestIntegrations(t *testing.T) {
	e := newEnv(t)
	var list struct {
		Results []integrationView `json:"results"`
	}
	body := e.must(200, "GET", "/integrations", nil, &list)
	checkSchema(t, "Integrations", body)
	if len(list.Results) != 2 {
		t.Fatalf("%d integrations, want 2", len(list.Results))
	}
	var g integrationView
	body = e.must(200, "GET", "/integrations/gnucash", nil, &g)
	checkSchema(t, "Integration", body)
	if !g.IsOfflineConnector || g.Name != "GnuCash" || len(g.DatatypeFeatures) != len(dataset.DataTypes) {
		t.Errorf("gnucash = %+v", g)
	}
	status, out := e.call("GET", "/integrations/xero", nil)
	e.apiError(status, out, 404, CodeNotFound, "gnucash")
	// The logo URL serves an image.
	status, out = e.callWith("", "GET", "/static/gnucash.svg", nil)
	if status != 200 || !regexp.MustCompile(`^<svg`).Match(out) {
		t.Errorf("logo: %d %.40s", status, out)
	}
}

// logRecords is a slog handler that keeps each record's message and
// attributes, for a test to wait on what a real agent logged.
type logRecords struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	return nil
}

// has reports whether one line holds every one of parts.
func (l *logRecords) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return true
		}
	}
	return false
}

// TestWithdrawnConnectionTellsAgent runs a real agent on a real hub: when
// the client unlinks its connection, or deletes it or its company, the
// agent is told at once that the binding is gone, with the reason.
func TestWithdrawnConnectionTellsAgent(t *testing.T) {
	tests := []struct {
		name, method string
		company      bool // the call is on the company, not the connection
		body         any
		want         int
		reason       string
	}{
		{"unlink", "PATCH", false, map[string]any{"status": "Unlinked"}, 200, "unlinked by the client"},
		{"delete", "DELETE", false, nil, 200, "deleted by the client"},
		{"delete the company", "DELETE", true, nil, 204, "deleted by the client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSupportEnv(t)
			co, conn, cred := e.linkedAgent("agent-1")
			logs := &logRecords{}
			e.startAgent(co, conn, cred, agentOpts{log: slog.New(logs)})
			e.waitFor("the agent to serve its connection", func() bool {
				a := e.agent("agent-1", "Bearer "+adminKey)
				return a.Status == "Online" && len(a.Connections) == 1 && a.Connections[0].Served
			})
			path := "/companies/" + co + "/connections/" + conn
			if tt.company {
				path = "/companies/" + co
			}
			e.must(tt.want, tt.method, path, tt.body, nil)
			e.waitFor("the agent to drop the binding", func() bool {
				return logs.has("binding revoked by the coordinator", "connection="+conn, "reason="+tt.reason)
			})
		})
	}
}

// TestUnlinkWithoutBody unlinks with no body at all, as Codat's SDK does
// when the caller gives none: it means {"status": "Unlinked"}. A body of
// {} still names no status and is refused; the callers that may not
// unlink are refused whatever the body.
func TestUnlinkWithoutBody(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	c := e.connection(co, "gnucash")
	other := e.company("Other")
	status, out := e.call("PATCH", "/companies/"+other+"/connections/"+c.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	e.apiError2(e.supportKeyOf(), "PATCH", "/companies/"+co+"/connections/"+c.ID, 403, CodeForbidden)
	status, out = e.call("PATCH", "/companies/"+co+"/connections/"+c.ID, "{}")
	e.apiError(status, out, 400, CodeInvalidField, "Unlinked")
	for _, body := range []any{nil, " \n"} {
		var unlinked connectionView
		out := e.must(200, "PATCH", "/companies/"+co+"/connections/"+c.ID, body, &unlinked)
		checkSchema(t, "Connection", out)
		if unlinked.Status != "Unlinked" {
			t.Errorf("body %q: status %s, want Unlinked", body, unlinked.Status)
		}
	}
}
