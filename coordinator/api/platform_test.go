package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// This file tests the operations of Codat's Platform API added for issue
// 22: replace company, profile, CORS settings and their effect, branding,
// push history, and the operations Ferry refuses.

// revokedKey creates a client key and deletes it; its secret is then
// refused.
func revokedKey(t *testing.T, e *env) string {
	t.Helper()
	var k struct {
		ID     string `json:"id"`
		APIKey string `json:"apiKey"`
	}
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "gone"}, &k)
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	return k.APIKey
}

// refusals checks the callers every new operation must turn away: no
// key, a revoked key, a support key where client scope is needed, and
// for a body a malformed and a huge one.
func refusals(t *testing.T, e *env, method, path string, clientScope, body bool) {
	t.Helper()
	revoked, support := revokedKey(t, e), supportKey(t, e)
	status, out := e.callWith("", method, path, nil)
	e.apiError(status, out, 401, CodeUnauthorized)
	status, out = e.callWith("Bearer "+revoked, method, path, nil)
	e.apiError(status, out, 401, CodeUnauthorized, "not valid")
	if clientScope {
		status, out = e.callWith("Bearer "+support, method, path, `{}`)
		e.apiError(status, out, 403, CodeForbidden, "support")
	}
	if body {
		status, out = e.call(method, path, `{"name":`)
		e.apiError(status, out, 400, CodeBadJSON)
		status, out = e.call(method, path, `{"name":"`+strings.Repeat("x", maxBody)+`"}`)
		e.apiError(status, out, 413, CodeBodyTooLarge)
	}
}

func TestReplaceCompany(t *testing.T) {
	e := newEnv(t)
	var c companyView
	e.must(200, "POST", "/companies", map[string]any{"name": "Acme", "description": "old", "tags": map[string]string{"region": "uk"}}, &c)
	body := e.must(200, "PUT", "/companies/"+c.ID, map[string]any{"name": "Acme Ltd"}, nil)
	checkSchema(t, "Company", body)
	var got companyView
	e.must(200, "GET", "/companies/"+c.ID, nil, &got)
	if got.Name != "Acme Ltd" || got.Description != "" || len(got.Tags) != 0 {
		t.Errorf("after replace: %+v; want the new name and no description or tags", got)
	}
	e.must(200, "PUT", "/companies/"+c.ID, map[string]any{"name": "Acme Ltd", "description": "new", "tags": map[string]string{"k": "v"}}, &got)
	if got.Description != "new" || got.Tags["k"] != "v" {
		t.Errorf("replace with every field: %+v", got)
	}
	status, out := e.call("PUT", "/companies/"+c.ID, map[string]any{"description": "no name"})
	e.apiError(status, out, 400, CodeInvalidField, "name is required")
	status, out = e.call("PUT", "/companies/"+c.ID, map[string]any{"name": "<script>"})
	e.apiError(status, out, 400, CodeInvalidField, "name")
	status, out = e.call("PUT", "/companies/00000000-0000-0000-0000-000000000000", map[string]any{"name": "Other"})
	e.apiError(status, out, 404, CodeNotFound)
	refusals(t, e, "PUT", "/companies/"+c.ID, true, true)
}

func TestProfile(t *testing.T) {
	e := newEnv(t)
	body := e.must(200, "GET", "/profile", nil, nil)
	checkSchema(t, "Profile", body)
	if string(body) != `{"name":"","logoUrl":"","iconUrl":"","redirectUrl":"","whiteListUrls":[],"confirmCompanyName":false}`+"\n" {
		t.Errorf("the profile before any: %s", body)
	}
	e.must(200, "POST", "/corsSettings", map[string]any{"allowedOrigins": []string{"https://app.example.com"}}, nil)
	want := profileView{Name: "Lender", LogoURL: "https://cdn.example.com/logo.png", IconURL: "https://cdn.example.com/icon.ico",
		RedirectURL: "https://app.example.com/linked/{companyId}", WhiteListURLs: []string{"https://app.example.com"}, ConfirmCompanyName: true}
	var got profileView
	body = e.must(200, "PUT", "/profile", want, &got)
	checkSchema(t, "Profile", body)
	e.must(200, "GET", "/profile", nil, &got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GET after PUT: %+v, want %+v", got, want)
	}
	var cors corsBody
	if e.must(200, "GET", "/corsSettings", nil, &cors); !slices.Equal(cors.AllowedOrigins, []string{"https://app.example.com"}) {
		t.Errorf("a PUT of the profile changed the CORS origins: %v", cors.AllowedOrigins)
	}
	// A PUT replaces: what it leaves out becomes empty.
	e.must(200, "PUT", "/profile", map[string]any{"name": "Lender"}, &got)
	if got.RedirectURL != "" || len(got.WhiteListURLs) != 0 || got.LogoURL != "" || got.ConfirmCompanyName {
		t.Errorf("a PUT with the name only: %+v; want the rest empty", got)
	}
	bad := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"redirectUrl": "https://x.example"}, "name is required"},
		{"long name", map[string]any{"name": strings.Repeat("n", 201)}, "name"},
		{"script logo", map[string]any{"name": "n", "logoUrl": "javascript:alert(1)"}, "logoUrl"},
		{"relative icon", map[string]any{"name": "n", "iconUrl": "/icon.ico"}, "iconUrl"},
		{"ftp redirect", map[string]any{"name": "n", "redirectUrl": "ftp://app.example.com/x"}, "redirectUrl"},
		{"placeholder in host", map[string]any{"name": "n", "redirectUrl": "https://{companyId}.example.com/"}, "redirectUrl"},
		{"other placeholder", map[string]any{"name": "n", "redirectUrl": "https://app.example.com/{country}/{companyId}"}, "redirectUrl"},
		{"password in redirect", map[string]any{"name": "n", "redirectUrl": "https://u:p@app.example.com/"}, "redirectUrl"},
		{"white list not a URL", map[string]any{"name": "n", "whiteListUrls": []string{"app.example.com"}}, "whiteListUrls[0]"},
		{"white list wildcard", map[string]any{"name": "n", "whiteListUrls": []string{"https://ok.example.com", "https://*.example.com"}}, "whiteListUrls[1]"},
		{"white list too long", map[string]any{"name": "n", "whiteListUrls": slices.Repeat([]string{"https://a.example.com"}, 51)}, "whiteListUrls"},
		{"URL too long", map[string]any{"name": "n", "logoUrl": "https://a.example.com/" + strings.Repeat("a", 2048)}, "logoUrl"},
		{"unknown field", map[string]any{"name": "n", "apiKey": "x"}, `"apiKey"`},
		{"wrong type", map[string]any{"name": "n", "whiteListUrls": "https://a.example.com"}, "whiteListUrls"},
	}
	for _, tt := range bad {
		status, out := e.call("PUT", "/profile", tt.body)
		code := CodeInvalidField
		if tt.name == "unknown field" || tt.name == "wrong type" {
			code = CodeBadJSON
		}
		e.apiError(status, out, 400, code, tt.field)
	}
	if e.must(200, "GET", "/profile", nil, &got); got.Name != "Lender" {
		t.Errorf("refused PUTs changed the profile: %+v", got)
	}
	// support reads it.
	if status, out := e.callWith("Bearer "+supportKey(t, e), "GET", "/profile", nil); status != 200 {
		t.Errorf("support GET /profile: %d %s", status, out)
	}
	refusals(t, e, "PUT", "/profile", true, true)
	refusals(t, e, "GET", "/profile", false, false)
}

func TestCORSSettings(t *testing.T) {
	e := newEnv(t)
	for _, base := range []string{"/corsSettings", "/connectionManagement/corsSettings"} {
		body := e.must(200, "GET", base, nil, nil)
		checkSchema(t, "ConnectionManagementAllowedOrigins", body)
	}
	origins := []string{"https://app.example.com", "http://localhost:3000"}
	body := e.must(200, "POST", "/connectionManagement/corsSettings", map[string]any{"allowedOrigins": origins}, nil)
	checkSchema(t, "ConnectionManagementAllowedOrigins", body)
	var got corsBody
	if e.must(200, "GET", "/corsSettings", nil, &got); !slices.Equal(got.AllowedOrigins, origins) {
		t.Errorf("the new path reads %v, want what the old one set %v", got.AllowedOrigins, origins)
	}
	bad := []struct{ origin, want string }{
		{"*", "allowedOrigins[0]"},
		{"null", "allowedOrigins[0]"},
		{"https://app.example.com/", "no path"},
		{"https://app.example.com/app", "no path"},
		{"HTTPS://APP.EXAMPLE.COM", "lower case"},
		{"ftp://app.example.com", "http or https"},
		{"app.example.com", "allowedOrigins[0]"},
		{"https://*.example.com", "wildcard"},
		{"https://u@app.example.com", "user name"},
	}
	for _, tt := range bad {
		status, out := e.call("POST", "/corsSettings", map[string]any{"allowedOrigins": []string{tt.origin}})
		e.apiError(status, out, 400, CodeInvalidField, tt.want)
	}
	status, out := e.call("POST", "/corsSettings", map[string]any{})
	e.apiError(status, out, 400, CodeInvalidField, "allowedOrigins is required")
	status, out = e.call("POST", "/corsSettings", map[string]any{"allowedOrigins": slices.Repeat([]string{"https://a.example.com"}, 51)})
	e.apiError(status, out, 400, CodeInvalidField, "at most 50")
	if e.must(200, "GET", "/corsSettings", nil, &got); !slices.Equal(got.AllowedOrigins, origins) {
		t.Errorf("refused POSTs changed the origins: %v", got.AllowedOrigins)
	}
	if status, out := e.callWith("Bearer "+supportKey(t, e), "GET", "/corsSettings", nil); status != 200 {
		t.Errorf("support GET /corsSettings: %d %s", status, out)
	}
	for _, base := range []string{"/corsSettings", "/connectionManagement/corsSettings"} {
		refusals(t, e, "POST", base, true, true)
		refusals(t, e, "GET", base, false, false)
	}
}

// browserCall sends what a browser page sends: its Origin, and for a
// preflight the method and headers it asks for.
func (e *env) browserCall(method, path, origin string, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestCORS: the API answers the preflight of an allowed origin and names
// it (never "*", never with credentials) on the answers to its requests,
// errors included; another origin's preflight is refused and its requests
// carry no CORS header; a change of the settings holds at once.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	const app, evil = "https://app.example.com", "https://evil.example.com"
	preflight := func(origin string) *http.Response {
		return e.browserCall("OPTIONS", "/companies", origin, map[string]string{
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
	}
	auth := map[string]string{"Authorization": "Bearer " + adminKey}
	noCORS := func(what string, r *http.Response) {
		t.Helper()
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"} {
			if v := r.Header.Get(h); v != "" {
				t.Errorf("%s: %s: %q, want none", what, h, v)
			}
		}
	}
	if r := preflight(app); r.StatusCode != 403 {
		t.Errorf("preflight before any origin is allowed: %d, want 403", r.StatusCode)
	}
	e.must(200, "POST", "/corsSettings", map[string]any{"allowedOrigins": []string{app}}, nil)

	r := preflight(app)
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != app ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "authorization") ||
		r.Header.Get("Access-Control-Max-Age") == "" || !slices.Contains(r.Header.Values("Vary"), "Origin") {
		t.Errorf("preflight of an allowed origin: %d %v", r.StatusCode, r.Header)
	}
	if v := r.Header.Get("Access-Control-Allow-Credentials"); v != "" {
		t.Errorf("preflight allows credentials: %q", v)
	}
	r = e.browserCall("GET", "/companies", app, auth)
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != app || r.Header.Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Correlation-Id") {
		t.Errorf("request of an allowed origin: %d %v", r.StatusCode, r.Header)
	}
	r = e.browserCall("GET", "/companies", app, nil)
	if r.StatusCode != 401 || r.Header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("an error to an allowed origin: %d %v; want 401 the page can read", r.StatusCode, r.Header)
	}

	r = preflight(evil)
	noCORS("preflight of another origin", r)
	if r.StatusCode != 403 {
		t.Errorf("preflight of another origin: %d, want 403", r.StatusCode)
	}
	r = e.browserCall("GET", "/companies", evil, auth)
	noCORS("request of another origin", r)
	for _, o := range []string{"null", "https://app.example.com.evil.example", "http://app.example.com", "https://app.example.com:444"} {
		noCORS("origin "+o, e.browserCall("GET", "/companies", o, auth))
	}
	noCORS("request without an Origin", e.browserCall("GET", "/companies", "", auth))
	// An OPTIONS that is no preflight is what it was: 405.
	if r := e.browserCall("OPTIONS", "/companies", "", nil); r.StatusCode != 405 {
		t.Errorf("OPTIONS without a preflight: %d, want 405", r.StatusCode)
	}

	e.must(200, "POST", "/corsSettings", map[string]any{"allowedOrigins": []string{}}, nil)
	r = preflight(app)
	noCORS("preflight after the origin is removed", r)
	if r.StatusCode != 403 {
		t.Errorf("preflight after the origin is removed: %d, want 403", r.StatusCode)
	}
}

func TestBranding(t *testing.T) {
	e := newEnv(t)
	for _, key := range []string{"gnucash", "csv"} {
		body := e.must(200, "GET", "/integrations/"+key+"/branding", nil, nil)
		checkSchema(t, "Branding", body)
		var b brandingView
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		for _, img := range []*brandingImage{b.Logo.Full, b.Logo.Square, b.Button.Default, b.Button.Hover} {
			file, ok := strings.CutPrefix(img.Image.Src, "http://ferry.test/static/")
			if !ok || img.Image.Alt == "" {
				t.Errorf("%s: image %+v is not one of the coordinator's own files", key, img.Image)
				continue
			}
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/static/"+file, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Errorf("%s: %s answers %d %s", key, file, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	status, out := e.call("GET", "/integrations/xero/branding", nil)
	e.apiError(status, out, 404, CodeNotFound, "xero")
	if status, out := e.callWith("Bearer "+supportKey(t, e), "GET", "/integrations/csv/branding", nil); status != 200 {
		t.Errorf("support: %d %s", status, out)
	}
	refusals(t, e, "GET", "/integrations/csv/branding", false, false)
}

// TestPushOperations: Ferry writes nothing back, so a company's push list
// is an empty page and any push operation is 404.
func TestPushOperations(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	body := e.must(200, "GET", "/companies/"+co+"/push?page=2&pageSize=10", nil, nil)
	checkSchema(t, "PushOperations", body)
	var page struct {
		Results      []any `json:"results"`
		TotalResults int   `json:"totalResults"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.Results == nil || len(page.Results) != 0 || page.TotalResults != 0 {
		t.Errorf("push list: %s", body)
	}
	status, out := e.call("GET", "/companies/"+co+"/push?pageSize=0", nil)
	e.apiError(status, out, 400, CodeBadParameter)
	status, out = e.call("GET", "/companies/"+co+"/push/7f9c0e34-0f3e-4d36-a3c2-2b5e4c6f8a01", nil)
	e.apiError(status, out, 404, CodeNotFound, "does not write back")
	const other = "00000000-0000-0000-0000-000000000000"
	status, out = e.call("GET", "/companies/"+other+"/push", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/"+other+"/push/7f9c0e34-0f3e-4d36-a3c2-2b5e4c6f8a01", nil)
	e.apiError(status, out, 404, CodeNotFound)
	sup := "Bearer " + supportKey(t, e)
	if status, out := e.callWith(sup, "GET", "/companies/"+co+"/push", nil); status != 200 {
		t.Errorf("support: %d %s", status, out)
	}
	refusals(t, e, "GET", "/companies/"+co+"/push", false, false)
	refusals(t, e, "GET", "/companies/"+co+"/push/x", false, false)
}

// TestNotOfferedOperations: each operation Ferry refuses answers 501 in
// the error shape with CodeNotOffered and why, after the same
// authentication as a route: no key or a revoked one is 401, a support
// key is 403 where the operation would change something.
func TestNotOfferedOperations(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	sup, revoked := "Bearer "+supportKey(t, e), "Bearer "+revokedKey(t, e)
	for _, op := range notOfferedOps {
		path := strings.NewReplacer("{companyId}", co, "{connectionId}", "7f9c0e34-0f3e-4d36-a3c2-2b5e4c6f8a01",
			"{platformKey}", "gnucash", "{dataType}", "invoices", "{productIdentifier}", "lending",
			"{customDataIdentifier}", "DynamicsPurchaseOrders").Replace(op.Path)
		if strings.Contains(path, "{") {
			t.Fatalf("%s: a wildcard is left", path)
		}
		status, out := e.call(op.Method, path, `{"x":1}`)
		e.apiError(status, out, 501, CodeNotOffered, "Ferry does not offer", op.Why)
		status, out = e.callWith("", op.Method, path, nil)
		e.apiError(status, out, 401, CodeUnauthorized)
		status, out = e.callWith(revoked, op.Method, path, nil)
		e.apiError(status, out, 401, CodeUnauthorized)
		status, out = e.callWith(sup, op.Method, path, nil)
		if op.Method == "GET" {
			e.apiError(status, out, 501, CodeNotOffered)
		} else {
			e.apiError(status, out, 403, CodeForbidden)
		}
	}
	// A path near one refused is still a plain 404.
	status, out := e.call("GET", "/companies/"+co+"/accessToken/extra", nil)
	e.apiError(status, out, 404, CodeNotFound)
}
