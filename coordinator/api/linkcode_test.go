package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// issued posts for a new link code and returns the answer, checked
// against the schema, and its code.
func (e *env) issued(co, conn string) (connectionView, string) {
	e.t.Helper()
	var v connectionView
	body := e.must(200, "POST", "/companies/"+co+"/connections/"+conn+"/linkCode", nil, &v)
	checkSchema(e.t, "Connection", body)
	code, _ := v.ConnectionInfo["linkCode"].(string)
	if linkcode.Normalize(code) == "" {
		e.t.Fatalf("POST linkCode: connectionInfo.linkCode %q is not a code", code)
	}
	return v, code
}

// redeem uses a code as the link exchange does.
func (e *env) redeem(code, agent string) error {
	_, err := e.st.RedeemLinkCode(e.t.Context(), linkcode.Hash(code), agent, e.clock.Now())
	return err
}

// TestNewLinkCode: a client key issues a fresh code for a connection that
// is not Linked; the answer is the one place it shows, the old code stops
// working, and a Linked connection gets 409.
func TestNewLinkCode(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	var created connectionView
	e.must(200, "POST", "/companies/"+co+"/connections", map[string]any{"platformKey": "csv"}, &created)
	first := created.ConnectionInfo["linkCode"].(string)

	v, second := e.issued(co, created.ID)
	if second == first || v.Status != "PendingAuth" || v.LinkURL != created.LinkURL {
		t.Errorf("new code %s (first %s), status %s, linkUrl %s: want another code, PendingAuth, the same linkUrl", second, first, v.Status, v.LinkURL)
	}
	if err := e.redeem(first, "agent-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("redeem the replaced code: %v, want ErrNotFound", err)
	}
	if err := e.redeem(second, "agent-1"); err != nil {
		t.Fatalf("redeem the new code: %v", err)
	}
	status, out := e.call("POST", "/companies/"+co+"/connections/"+created.ID+"/linkCode", nil)
	e.apiError(status, out, 409, CodeConflict, "Linked")

	// The client's unlink stands until the client acts: a code issued here
	// after the unlink links it again.
	e.must(200, "PATCH", "/companies/"+co+"/connections/"+created.ID, map[string]any{"status": "Unlinked"}, nil)
	_, third := e.issued(co, created.ID)
	if err := e.redeem(third, "agent-2"); err != nil {
		t.Errorf("redeem a code the client issued after unlinking: %v", err)
	}

	status, out = e.call("POST", "/companies/"+co+"/connections/nope/linkCode", nil)
	e.apiError(status, out, 404, CodeNotFound)
	other := e.company("Other")
	status, out = e.call("POST", "/companies/"+other+"/connections/"+created.ID+"/linkCode", nil)
	e.apiError(status, out, 404, CodeNotFound)
}

// supportKeyOf creates a support key through the API and returns its
// Authorization header.
func (e *env) supportKeyOf() string {
	e.t.Helper()
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "support desk", "scope": "support"}, &k)
	return "Bearer " + k.APIKey
}

// TestSupportSeesNoLinkCode reads every view that holds a connection with
// a support key: none shows a link code or a usable link URL (a link URL's
// token lets its holder ask for a code), and asking for a code is 403.
func TestSupportSeesNoLinkCode(t *testing.T) {
	e := newEnv(t)
	support := e.supportKeyOf()
	co := e.company("Acme")
	var pending connectionView
	e.must(200, "POST", "/companies/"+co+"/connections", map[string]any{"platformKey": "csv"}, &pending)
	code := pending.ConnectionInfo["linkCode"].(string)
	deauth := e.connection(co, "gnucash")
	_, err := e.st.UpdateConnection(t.Context(), co, deauth.ID, func(c *store.Connection) error {
		c.Status = store.Deauthorized
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, deauthCode := e.issued(co, deauth.ID)
	secrets := []string{code, linkcode.Normalize(code), deauthCode, linkcode.Normalize(deauthCode),
		e.srv.links.ConnectionToken(co, pending.ID), e.srv.links.ConnectionToken(co, deauth.ID), e.srv.links.CompanyToken(co)}

	views := []struct{ path, schema string }{
		{"/companies/" + co + "/connections", "Connections"},
		{"/companies/" + co + "/connections/" + pending.ID, "Connection"},
		{"/companies/" + co + "/connections/" + deauth.ID, "Connection"},
		{"/companies/" + co, "Company"},
		{"/companies", "Companies"},
	}
	for _, v := range views {
		status, body := e.callWith(support, "GET", v.path, nil)
		if status != 200 {
			t.Fatalf("support GET %s: %d %s", v.path, status, body)
		}
		checkSchema(t, v.schema, body)
		for _, s := range secrets {
			if strings.Contains(string(body), s) {
				t.Errorf("support GET %s shows %q: %s", v.path, s, body)
			}
		}
		if strings.Contains(string(body), "linkCode\"") || strings.Contains(string(body), "token=") {
			t.Errorf("support GET %s has a linkCode or a link token: %s", v.path, body)
		}
	}
	var c connectionView
	_, body := e.callWith(support, "GET", "/companies/"+co+"/connections/"+pending.ID, nil)
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if want := "http://ferry.test/link/" + co + "/" + pending.ID; c.LinkURL != want {
		t.Errorf("support linkUrl = %q, want the page without its token, %q", c.LinkURL, want)
	}
	var company companyView
	_, body = e.callWith(support, "GET", "/companies/"+co, nil)
	if err := json.Unmarshal(body, &company); err != nil {
		t.Fatal(err)
	}
	if want := "http://ferry.test/link/" + co; company.Redirect != want {
		t.Errorf("support redirect = %q, want %q", company.Redirect, want)
	}

	for _, path := range []string{"/companies/" + co + "/connections/" + pending.ID + "/linkCode", "/companies/" + co + "/connections"} {
		status, out := e.callWith(support, "POST", path, map[string]any{"platformKey": "csv"})
		e.apiError(status, out, 403, CodeForbidden)
	}
	// The codes still work: nothing the support key did touched them.
	if err := e.redeem(code, "agent-1"); err != nil {
		t.Errorf("redeem the pending connection's code: %v", err)
	}
}
