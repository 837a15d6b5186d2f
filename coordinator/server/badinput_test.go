package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestIssueBadInput replays the requests of issue 12's "Answers" against a
// served coordinator: bad ids, bad bodies and webhook URLs on special
// addresses are each a 4xx that cannot be retried, never a 5xx, and no
// error names a Go type.
func TestIssueBadInput(t *testing.T) {
	cfg := testConfig(t)
	srv := serve(t, cfg)
	base := "http://" + srv.Addr()
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/companies/%00", "", 404},
		{"GET", "/companies/%FF", "", 404},
		{"GET", "/companies/" + strings.Repeat("a", 300), "", 404},
		{"GET", "/companies/a%2Fb", "", 404},
		{"GET", "/agents/%00", "", 404},
		{"DELETE", "/apiKeys/%00", "", 404},
		{"PUT", "/agent/v1/datasets/%00/pages/1", "x", 404},
		{"POST", "/companies", "{\"name\":\"Acme\",\"description\":\"\xff\xfe\"}", 400},
		{"POST", "/companies", `{"name":"Acme","description":"a\u0000b"}`, 400},
		{"POST", "/companies", `[{"name":"Acme"}]`, 400},
		{"POST", "/webhooks", `{"url":"http://[64:ff9b::7f00:1]/","eventTypes":["connection.created"]}`, 400},
		{"POST", "/webhooks", `{"url":"http://[64:ff9b::a9fe:a9fe]/","eventTypes":["connection.created"]}`, 400},
		{"POST", "/webhooks", `{"url":"http://[2002:7f00:1::]/","eventTypes":["connection.created"]}`, 400},
		{"POST", "/webhooks", `{"url":"http://198.18.0.1/","eventTypes":["connection.created"]}`, 400},
		{"POST", "/webhooks", `{"url":"http://240.0.0.1/","eventTypes":["connection.created"]}`, 400},
		{"POST", "/webhooks", `{"url":"http://255.255.255.255/","eventTypes":["connection.created"]}`, 400},
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+cfg.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := tt.method + " " + tt.path + " " + tt.body
		if resp.StatusCode != tt.want {
			t.Errorf("%s: got %d %s, want %d", what, resp.StatusCode, out, tt.want)
			continue
		}
		if strings.Contains(string(out), "api.") {
			t.Errorf("%s: got %s, which names a Go type", what, out)
		}
		if strings.HasPrefix(tt.path, "/agent/") {
			continue // the agent protocol's error shape
		}
		var eb struct{ CanBeRetried string }
		if err := json.Unmarshal(out, &eb); err != nil || eb.CanBeRetried != "False" {
			t.Errorf("%s: got %s, want canBeRetried False", what, out)
		}
	}
}
