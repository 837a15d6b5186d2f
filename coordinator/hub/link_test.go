package hub

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestLinkExchange(t *testing.T) {
	e := newEnv(t)
	conn, code := e.connection(e.co)
	r := e.link(code, "")
	if r.Credential == "" || r.AgentID == "" || r.ConnectionID != conn || r.CompanyID != e.co || r.PlatformKey != "csv" {
		t.Fatalf("link response %+v", r)
	}
	c, err := e.st.Connection(t.Context(), e.co, conn)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.Linked || c.AgentID != r.AgentID || !c.LinkCodeExpires.IsZero() {
		t.Errorf("after link: %+v", c)
	}
	// First link queued every fetchOnFirstLink type.
	queued, _, err := e.st.QueuedDatasets(t.Context(), conn)
	if err != nil || len(queued) != len(dataset.DataTypes) {
		t.Errorf("first link queued %d datasets (%v), want %d", len(queued), err, len(dataset.DataTypes))
	}
	// The code is single use.
	status, out := e.post(protocol.LinkPath, "", protocol.LinkRequest{Code: code})
	if status != 400 || code2(t, out) != protocol.CodeBadCode {
		t.Errorf("reused code: %d %s", status, out)
	}
	// A second link with the credential adds a binding to the same agent.
	conn2, code2s := e.connection(e.co)
	r2 := e.link(code2s, r.Credential)
	if r2.AgentID != r.AgentID || r2.Credential != "" || r2.ConnectionID != conn2 {
		t.Errorf("second link %+v, want the same agent and no new credential", r2)
	}
	conns, err := e.st.AgentConnections(t.Context(), r.AgentID)
	if err != nil || len(conns) != 2 {
		t.Errorf("agent has %d bindings (%v), want 2", len(conns), err)
	}
	// The stored credential is a hash.
	a, err := e.st.Agent(t.Context(), r.AgentID)
	if err != nil || string(a.CredentialHash) == r.Credential || a.Hostname != "pc-1" {
		t.Errorf("agent record %+v (%v)", a, err)
	}
}

func code2(t *testing.T, out []byte) protocol.Code { return code(t, out) }

func TestLinkRefusals(t *testing.T) {
	e := newEnv(t)
	_, good := e.connection(e.co)
	tests := []struct {
		name   string
		auth   string
		body   any
		status int
		code   protocol.Code
	}{
		{"malformed code", "", protocol.LinkRequest{Code: "nope"}, 400, protocol.CodeBadCode},
		{"unknown code", "", protocol.LinkRequest{Code: "ABCD-EFGH"}, 400, protocol.CodeBadCode},
		{"unknown field", "", map[string]any{"code": good, "evil": 1}, 400, protocol.CodeBadMessage},
		{"hostname with NUL", "", protocol.LinkRequest{Code: good, PlatformKey: "csv", Hostname: "pc\x00"}, 400, protocol.CodeBadMessage},
		{"long agentVersion", "", protocol.LinkRequest{Code: good, PlatformKey: "csv", AgentVersion: strings.Repeat("1", 65)}, 400, protocol.CodeBadMessage},
		{"bad credential", "fra_wrong", protocol.LinkRequest{Code: good}, 401, protocol.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.post(protocol.LinkPath, tt.auth, tt.body)
			if status != tt.status || code(t, out) != tt.code {
				t.Errorf("got %d %s, want %d %s", status, out, tt.status, tt.code)
			}
		})
	}
	agents, _ := e.st.Agents(t.Context())
	if len(agents) != 0 {
		t.Errorf("refused links created %d agents", len(agents))
	}
	// The good code still works after the refusals.
	e.link(good, "")
}

func TestLinkRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		if status, _ := e.post(protocol.LinkPath, "", protocol.LinkRequest{Code: "ABCD-EFGH"}); status != 400 {
			t.Fatalf("attempt %d: %d, want 400", i+1, status)
		}
	}
	_, good := e.connection(e.co)
	status, out := e.post(protocol.LinkPath, "", protocol.LinkRequest{Code: good})
	if status != 429 || code(t, out) != protocol.CodeRateLimited {
		t.Fatalf("11th attempt: %d %s, want 429", status, out)
	}
	e.clock.Add(61 * 1e9)
	e.link(good, "")
}

func TestAgentUnlink(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, _ := e.connect(cred, all(conn))
	status, out := e.post(protocol.UnlinkPath, cred, protocol.UnlinkRequest{ConnectionID: conn})
	if status != 200 {
		t.Fatalf("unlink: %d %s", status, out)
	}
	m := a.expect(protocol.TypeRevoked)
	if m.Revoked.ConnectionID != conn {
		t.Errorf("revoked %+v", m.Revoked)
	}
	c, _ := e.st.Connection(t.Context(), e.co, conn)
	if c.Status != store.Deauthorized {
		t.Errorf("status %s, want Deauthorized", c.Status)
	}
	// Its queued datasets ended in AuthError; the agent can no longer unlink it.
	hist, _ := e.st.Datasets(t.Context(), e.co)
	for _, d := range hist {
		if d.Status != dataset.AuthError {
			t.Errorf("dataset %s is %s, want AuthError", d.DataType, d.Status)
		}
	}
	if status, _ := e.post(protocol.UnlinkPath, cred, protocol.UnlinkRequest{ConnectionID: conn}); status != 404 {
		t.Errorf("second unlink: %d, want 404", status)
	}
}
