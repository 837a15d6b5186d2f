package api

import (
	"strings"
	"testing"
)

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	var created apiKeyView
	body := e.must(201, "POST", "/apiKeys", map[string]any{"name": "azure-invoice-finance-processor"}, &created)
	checkSchema(t, "ApiKeyDetails", body)
	if created.APIKey == "" || created.Scope != "client" || created.Name == nil || *created.Name != "azure-invoice-finance-processor" || created.CreatedDate == "" {
		t.Fatalf("created %+v: want the secret once, scope client by default, the name, a date", created)
	}
	var unnamed apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"scope": "support"}, &unnamed)
	if unnamed.Scope != "support" || unnamed.Name != nil {
		t.Errorf("support key %+v: want scope support, name null", unnamed)
	}

	// The new key works; the secret is never listed.
	if code, _ := e.callWith(basic(created.APIKey), "GET", "/companies", nil); code != 200 {
		t.Errorf("GET /companies with the new key: %d", code)
	}
	body = e.must(200, "GET", "/apiKeys", nil, nil)
	checkSchema(t, "ApiKeys", body)
	if strings.Contains(string(body), created.APIKey) || strings.Contains(string(body), `"apiKey"`) {
		t.Errorf("list shows a secret: %s", body)
	}
	if n := strings.Count(string(body), `"createdDate"`); n != 3 {
		t.Errorf("list has %d keys, want the admin key and two new ones: %s", n, body)
	}

	tests := []struct {
		name string
		body any
		code int
	}{
		{"unknown scope", map[string]any{"scope": "admin"}, CodeInvalidField},
		{"name too long", map[string]any{"name": strings.Repeat("n", 51)}, CodeInvalidField},
		{"unknown field", map[string]any{"secret": "mine"}, CodeBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.call("POST", "/apiKeys", tt.body)
			e.apiError(code, out, 400, tt.code)
		})
	}

	e.must(204, "DELETE", "/apiKeys/"+created.ID, nil, nil)
	code, out := e.callWith(basic(created.APIKey), "GET", "/companies", nil)
	e.apiError(code, out, 401, CodeUnauthorized)
	code, out = e.call("DELETE", "/apiKeys/"+created.ID, nil)
	e.apiError(code, out, 404, CodeNotFound)
}

func TestAPIKeysLimit(t *testing.T) {
	e := newEnv(t)
	for range maxAPIKeys - 1 { // the admin key is one
		e.must(201, "POST", "/apiKeys", map[string]any{}, nil)
	}
	code, out := e.call("POST", "/apiKeys", map[string]any{})
	e.apiError(code, out, 409, CodeConflict, "delete an unused key")
}

// TestSupportScope: a support key reads everything, runs diagnostics,
// asks for support bundles and raises agents' log levels, and gets 403 on every other call that changes state.
func TestSupportScope(t *testing.T) {
	e := newEnv(t)
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"scope": "support"}, &k)
	sup := "Bearer " + k.APIKey
	for _, rt := range e.srv.Routes() {
		if rt.Scope == "" {
			continue
		}
		path := strings.NewReplacer("{companyId}", "co", "{connectionId}", "cn", "{datasetId}", "ds", "{dataType}", "invoices",
			"{recordId}", "r", "{platformKey}", "csv", "{agentId}", "ag", "{apiKeyId}", "k").Replace(rt.Path)
		code, out := e.callWith(sup, rt.Method, path, nil)
		mutates := rt.Method != "GET" && rt.Path != "/agents/{agentId}/diagnostics" &&
			rt.Path != "/agents/{agentId}/supportBundle" && rt.Path != "/agents/{agentId}"
		readsKeys := strings.HasPrefix(rt.Path, "/apiKeys")
		switch {
		case mutates || readsKeys:
			if code != 403 {
				t.Errorf("support %s %s: %d, want 403", rt.Method, rt.Path, code)
				continue
			}
			e.apiError(code, out, 403, CodeForbidden)
		case code == 401 || code == 403:
			t.Errorf("support %s %s: %d, want it allowed", rt.Method, rt.Path, code)
		}
	}
}
