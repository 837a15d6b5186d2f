package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	const supportKey = "support-key-1"
	if err := EnsureKey(t.Context(), e.st, supportKey, "support", store.ScopeSupport, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	co := e.company("Acme")
	tests := []struct {
		name, auth, method, path string
		status, code             int
	}{
		{"no header", "", "GET", "/companies", 401, CodeUnauthorized},
		{"wrong key", "Bearer nope", "GET", "/companies", 401, CodeUnauthorized},
		{"basic wrong key", basic("nope"), "GET", "/companies", 401, CodeUnauthorized},
		{"basic not base64", "Basic %%%", "GET", "/companies", 401, CodeUnauthorized},
		{"unknown scheme", "Token " + adminKey, "GET", "/companies", 401, CodeUnauthorized},
		{"huge header", "Bearer " + strings.Repeat("k", 4096), "GET", "/companies", 401, CodeUnauthorized},
		{"basic", basic(adminKey), "GET", "/companies", 200, 0},
		{"basic with colon", basic(adminKey + ":"), "GET", "/companies", 200, 0},
		{"bearer", "Bearer " + adminKey, "GET", "/companies", 200, 0},
		{"support reads", "Bearer " + supportKey, "GET", "/companies/" + co, 200, 0},
		{"support reads status", basic(supportKey), "GET", "/companies/" + co + "/dataStatus", 200, 0},
		{"support cannot create", "Bearer " + supportKey, "POST", "/companies", 403, CodeForbidden},
		{"support cannot queue", "Bearer " + supportKey, "POST", "/companies/" + co + "/data/all", 403, CodeForbidden},
		{"support cannot delete", "Bearer " + supportKey, "DELETE", "/companies/" + co, 403, CodeForbidden},
		{"health needs no key", "", "GET", "/healthz", 200, 0},
		{"ready needs no key", "", "GET", "/readyz", 200, 0},
		{"openapi needs no key", "", "GET", "/openapi.json", 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.callWith(tt.auth, tt.method, tt.path, map[string]any{"name": "x"})
			if tt.code == 0 {
				if status != tt.status {
					t.Fatalf("status %d, want %d: %s", status, tt.status, out)
				}
				return
			}
			e.apiError(status, out, tt.status, tt.code)
		})
	}
	// The company survived the support key's delete.
	e.must(200, "GET", "/companies/"+co, nil, nil)
}

func TestKeysStoredHashed(t *testing.T) {
	e := newEnv(t)
	keys, err := e.st.APIKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	raw, _ := json.Marshal(keys[0])
	if strings.Contains(string(raw), adminKey) {
		t.Error("the stored key holds the secret")
	}
}

func TestCorrelationID(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/companies/nope", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("X-Correlation-Id", "trace-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb errorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatal(err)
	}
	if eb.CorrelationID != "trace-123" || resp.Header.Get("X-Correlation-Id") != "trace-123" {
		t.Errorf("correlation id %q / header %q, want the caller's", eb.CorrelationID, resp.Header.Get("X-Correlation-Id"))
	}
}

func TestReadyz(t *testing.T) {
	e := newEnv(t)
	e.must(200, "GET", "/readyz", nil, nil)
	e.srv.SetReady(false)
	status, out := e.call("GET", "/readyz", nil)
	e.apiError(status, out, 503, CodeUnavailable)
	e.must(200, "GET", "/healthz", nil, nil)
}

// TestFailedAuthenticationsLimited: past the limit of wrong keys from one
// address in a minute, every authenticated call from it is 429 with
// Retry-After, before any key is looked up (the admin key's too), until
// the minute passes; another address is not held up.
func TestFailedAuthenticationsLimited(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.AuthFailures = ratelimit.NewFailures(c.Store.(ratelimit.Counter), "auth", 20, time.Minute, nil)
	})
	for i := range 20 {
		e.apiError2(fmt.Sprintf("Bearer wrong-%d", i), "GET", "/companies", 401, CodeUnauthorized)
	}
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	defer other.CloseIdleConnections()
	tests := []struct {
		name   string
		client *http.Client
		auth   string
		after  time.Duration
		status int
	}{
		{"another wrong key", http.DefaultClient, "Bearer wrong-20", 0, 429},
		{"the admin key from the same address", http.DefaultClient, "Bearer " + adminKey, 0, 429},
		{"no key", http.DefaultClient, "", 0, 429},
		{"the admin key from another address", other, "Bearer " + adminKey, 0, 200},
		{"a wrong key from another address", other, "Bearer wrong-0", 0, 401},
		{"the admin key once the minute passed", http.DefaultClient, "Bearer " + adminKey, time.Minute, 200},
		{"a wrong key once the minute passed", http.DefaultClient, "Bearer wrong-21", 0, 401},
	}
	for _, tt := range tests {
		e.clock.Add(tt.after)
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/companies", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := tt.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, resp.StatusCode, tt.status, body)
			continue
		}
		if tt.status != 429 {
			continue
		}
		e.apiError(resp.StatusCode, body, 429, CodeRateLimited, "too many failed authentications")
		if got := resp.Header.Get("Retry-After"); got != "60" {
			t.Errorf("%s: Retry-After %q, want 60", tt.name, got)
		}
		if !strings.Contains(string(body), `"canBeRetried":"True"`) {
			t.Errorf("%s: body %s, want canBeRetried True", tt.name, body)
		}
	}
	// What needs no key is not held up.
	if status, _ := e.callWith("", "GET", "/healthz", nil); status != 200 {
		t.Errorf("healthz from a limited address: %d, want 200", status)
	}
}
