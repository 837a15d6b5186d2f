package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// bodyRoute is a route that reads a body, a valid body for it, and string
// fields of that body as a template: %s is replaced by a JSON string
// literal's content (what lies between the quotes).
type bodyRoute struct {
	valid  string
	fields map[string]string // field path in the error -> body template
}

// bodyRoutes returns every route that reads a body, by method and pattern.
func bodyRoutes() map[string]bodyRoute {
	return map[string]bodyRoute{
		"POST /companies": {`{"name":"Acme"}`, map[string]string{
			"name":        `{"name":"%s"}`,
			"description": `{"name":"Acme","description":"%s"}`,
			"tags.region": `{"name":"Acme","tags":{"region":"%s"}}`,
		}},
		"PATCH /companies/{companyId}": {`{"name":"Acme 2"}`, map[string]string{
			"name":        `{"name":"%s"}`,
			"description": `{"description":"%s"}`,
		}},
		"POST /companies/{companyId}/connections": {`{"platformKey":"csv"}`, map[string]string{
			"platformKey": `{"platformKey":"%s"}`,
		}},
		"PATCH /companies/{companyId}/connections/{connectionId}": {`{"status":"Unlinked"}`, map[string]string{
			"status": `{"status":"%s"}`,
		}},
		"POST /profile/syncSettings": {`{"settings":[{"dataType":"invoices","fetchOnFirstLink":true,"syncSchedule":24,"syncOrder":0}]}`, map[string]string{
			"settings[0].dataType": `{"settings":[{"dataType":"%s","fetchOnFirstLink":true,"syncSchedule":24,"syncOrder":0}]}`,
		}},
		"POST /companies/{companyId}/syncSettings": {`{"overridesDefaults":false,"settings":[]}`, map[string]string{
			"companyId":            `{"companyId":"%s","settings":[]}`,
			"settings[0].dataType": `{"settings":[{"dataType":"%s","fetchOnFirstLink":true,"syncSchedule":24,"syncOrder":0}]}`,
		}},
		"PUT /profile/syncWindow": {`{"timeZone":"UTC","windows":[]}`, map[string]string{
			"timeZone":           `{"timeZone":"%s","windows":[]}`,
			"windows[0].days[0]": `{"timeZone":"UTC","windows":[{"days":["%s"],"start":"19:00","end":"07:00"}]}`,
			"windows[0].start":   `{"timeZone":"UTC","windows":[{"days":["Mon"],"start":"%s","end":"07:00"}]}`,
		}},
		"PUT /companies/{companyId}/syncWindow": {`{"timeZone":"UTC","windows":[]}`, map[string]string{
			"timeZone": `{"timeZone":"%s","windows":[]}`,
		}},
		"PUT /companies/{companyId}/connections/{connectionId}/syncWindow": {`{"timeZone":"UTC","windows":[]}`, map[string]string{
			"timeZone":       `{"timeZone":"%s","windows":[]}`,
			"windows[0].end": `{"timeZone":"UTC","windows":[{"days":["Mon"],"start":"19:00","end":"%s"}]}`,
		}},
		"POST /webhooks": {`{"url":"https://hooks.example.com/x","eventTypes":["read.completed"]}`, map[string]string{
			"url":           `{"url":"%s","eventTypes":["read.completed"]}`,
			"eventTypes[1]": `{"url":"https://hooks.example.com/x","eventTypes":["read.completed","%s"]}`,
		}},
		"PATCH /agents/{agentId}": {`{"logLevel":"debug","for":"30m"}`, map[string]string{
			"logLevel": `{"logLevel":"%s","for":"30m"}`,
			"for":      `{"logLevel":"debug","for":"%s"}`,
		}},
		"POST /apiKeys": {`{"name":"desk","scope":"support"}`, map[string]string{
			"name":  `{"name":"%s","scope":"support"}`,
			"scope": `{"name":"desk","scope":"%s"}`,
		}},
		"PUT /companies/{companyId}": {`{"name":"Acme 3"}`, map[string]string{
			"name": `{"name":"%s"}`,
		}},
		"PUT /profile": {`{"name":"Lender"}`, map[string]string{
			"redirectUrl":      `{"name":"Lender","redirectUrl":"%s"}`,
			"whiteListUrls[0]": `{"name":"Lender","whiteListUrls":["%s"]}`,
		}},
		"POST /corsSettings": {`{"allowedOrigins":["https://app.example.com"]}`, map[string]string{
			"allowedOrigins[0]": `{"allowedOrigins":["%s"]}`,
		}},
		"POST /connectionManagement/corsSettings": {`{"allowedOrigins":[]}`, map[string]string{
			"allowedOrigins[1]": `{"allowedOrigins":["https://app.example.com","%s"]}`,
		}},
		"POST /agentReleases/{version}/rollout": {`{"canaryCount":1,"maxInFlight":5,"haltOnFailure":true}`, map[string]string{}},
	}
}

// noBody are the POST routes that read no body.
var noBody = map[string]bool{
	"POST /companies/{companyId}/data/queue/{dataType}":               true,
	"POST /companies/{companyId}/data/all":                            true,
	"POST /agents/{agentId}/diagnostics":                              true,
	"POST /agents/{agentId}/supportBundle":                            true,
	"POST /agents/{agentId}/revoke":                                   true,
	"POST /companies/{companyId}/connections/{connectionId}/linkCode": true,
	"POST /companies/{companyId}/connections/{connectionId}/pause":    true,
	"POST /companies/{companyId}/connections/{connectionId}/resume":   true,
	"POST /agentReleases/{version}/rollout/pause":                     true,
	"POST /agentReleases/{version}/rollout/resume":                    true,
	"POST /agentReleases/{version}/rollout/halt":                      true,
}

// bodyPath fills a route pattern with the test's objects.
func bodyPath(pattern, co, conn string) string {
	return strings.NewReplacer("{companyId}", co, "{connectionId}", conn).Replace(pattern)
}

// TestBodyNotAnObject sends bodies of the wrong JSON type to every route
// that reads one: 400 "body must be a JSON object", never a Go type name.
func TestBodyNotAnObject(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	routes := bodyRoutes()
	for _, rt := range e.srv.Routes() {
		key := rt.Method + " " + rt.Path
		if rt.Method == "GET" || rt.Method == "DELETE" || noBody[key] {
			continue
		}
		if _, ok := routes[key]; !ok {
			t.Errorf("%s reads a body but is not in the test's table", key)
			continue
		}
		for _, body := range []string{`[]`, `[{"name":"Acme"}]`, `1`, `"Acme"`, `null`, `true`} {
			status, out := e.call(rt.Method, bodyPath(rt.Path, co, conn.ID), body)
			e.apiError(status, out, http.StatusBadRequest, CodeBadJSON, "body must be a JSON object")
			if strings.Contains(string(out), "api.") {
				t.Errorf("%s with %s: got %s, which names a Go type", key, body, out)
			}
		}
	}
}

// TestBodyFieldTypes sends a value of the wrong JSON type in a field: 400
// naming the field and the JSON type it takes, never a Go type name.
func TestBodyFieldTypes(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	tests := []struct {
		method, path, body, want string
	}{
		{"POST", "/companies", `{"name":1}`, `field "name" must be a string`},
		{"POST", "/companies", `{"name":"Acme","tags":[]}`, `field "tags" must be an object`},
		{"POST", "/companies", `{"name":"Acme","tags":{"a":1}}`, `field "tags" must be a string`},
		{"PATCH", "/companies/" + co, `{"description":{}}`, `field "description" must be a string`},
		{"POST", "/profile/syncSettings", `{"settings":{}}`, `field "settings" must be an array`},
		{"POST", "/profile/syncSettings", `{"settings":[1]}`, `field "settings" must be an object`},
		{"POST", "/profile/syncSettings", `{"settings":[{"syncSchedule":"6"}]}`, `field "settings.syncSchedule" must be a whole number`},
		{"POST", "/profile/syncSettings", `{"settings":[{"syncOrder":1e99}]}`, `field "settings.syncOrder" must be a whole number`},
		{"POST", "/profile/syncSettings", `{"settings":[{"fetchOnFirstLink":1}]}`, `field "settings.fetchOnFirstLink" must be true or false`},
		{"POST", "/webhooks", `{"url":"https://x.example","eventTypes":"read.completed"}`, `field "eventTypes" must be an array`},
	}
	for _, tt := range tests {
		status, out := e.call(tt.method, tt.path, tt.body)
		e.apiError(status, out, http.StatusBadRequest, CodeBadJSON, tt.want)
		if strings.Contains(string(out), "api.") || strings.Contains(string(out), "dataset.") {
			t.Errorf("%s %s with %s: got %s, which names a Go type", tt.method, tt.path, tt.body, out)
		}
	}
}

// TestBodyBadText puts invalid UTF-8 and control characters in every
// string field of every body: 400 naming the field, and nothing stored.
func TestBodyBadText(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	bad := []struct{ name, lit string }{
		{"invalid UTF-8", "\xff\xfe"},
		{"a lone surrogate", `\ud800`},
		{"an escaped NUL", `a\u0000b`},
		{"an escape", `\u001b[31m`},
		{"DEL", `\u007f`},
		{"a C1 control", `\u0085`},
		{"a form feed", `\f`},
	}
	for key, rt := range bodyRoutes() {
		method, pattern, _ := strings.Cut(key, " ")
		path := bodyPath(pattern, co, conn.ID)
		for field, tmpl := range rt.fields {
			for _, b := range bad {
				body := strings.Replace(tmpl, "%s", b.lit, 1)
				status, out := e.call(method, path, body)
				if status != http.StatusBadRequest {
					t.Errorf("%s, %s in %s: got %d %s, want 400", key, b.name, field, status, out)
					continue
				}
				var eb errorBody
				_ = json.Unmarshal(out, &eb)
				if eb.DetailedErrorCode != CodeInvalidField || !strings.Contains(eb.Error, `"`+field+`"`) {
					t.Errorf("%s, %s in %s: got code %d %q, want code %d naming %q", key, b.name, field, eb.DetailedErrorCode, eb.Error, CodeInvalidField, field)
				}
			}
		}
	}
	// A raw control character is not JSON at all: 400, still naming the field.
	status, out := e.call("POST", "/companies", "{\"name\":\"Acme\",\"description\":\"a\x00b\"}")
	e.apiError(status, out, http.StatusBadRequest, CodeBadJSON, `"description"`)
	// Names refuse line breaks; a description is free text and keeps them.
	status, out = e.call("POST", "/companies", `{"name":"Acme\nCorp"}`)
	e.apiError(status, out, http.StatusBadRequest, CodeInvalidField, `"name"`)
	status, out = e.call("POST", "/companies", `{"name":"Acme","tags":{"a\u0000":"b"}}`)
	e.apiError(status, out, http.StatusBadRequest, CodeInvalidField, `a key of "tags"`)
	status, out = e.call("POST", "/companies", `{"name":"Acme","description":"line 1\r\n\tline 2 \ufffd"}`)
	if status != http.StatusOK {
		t.Fatalf("description with a tab and line breaks: got %d %s, want 200", status, out)
	}
	var c companyView
	_ = json.Unmarshal(out, &c)
	if c.Description != "line 1\r\n\tline 2 \ufffd" {
		t.Errorf("description stored as %q", c.Description)
	}
	var list struct{ TotalResults int }
	e.must(200, "GET", "/companies", nil, &list)
	if list.TotalResults != 2 {
		t.Errorf("companies after refused bodies: got %d, want 2", list.TotalResults)
	}
}
