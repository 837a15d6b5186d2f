package server

import (
	"fmt"
	"net"
	"net/http"
	"testing"
)

// from is an HTTP client whose connections come from a loopback address
// of the test's choosing (127.0.0.1 is the default client's).
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestAuthFailuresShared: wrong API keys and unknown agent credentials
// count together per address; past MaxAuthFailures both the API and the
// agents' endpoints answer 429, to that address only.
func TestAuthFailuresShared(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxAuthFailures = 4
	srv := serve(t, cfg)
	base := "http://" + srv.Addr()
	get := func(c *http.Client, path, auth string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		req.Header.Set("Authorization", auth)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	one, two := from(t, "127.0.0.1"), from(t, "127.0.0.2")
	for i := range 2 {
		get(one, "/companies", fmt.Sprintf("Bearer wrong-%d", i))
		get(one, "/agent/v1/connect", fmt.Sprintf("Bearer fra_wrong-%d", i))
	}
	tests := []struct {
		name   string
		client *http.Client
		path   string
		auth   string
		want   int
	}{
		{"API, the admin key, same address", one, "/companies", "Bearer " + cfg.AdminKey, 429},
		{"agents, same address", one, "/agent/v1/connect", "Bearer fra_wrong", 429},
		{"API, the admin key, another address", two, "/companies", "Bearer " + cfg.AdminKey, 200},
		{"agents, another address", two, "/agent/v1/connect", "Bearer fra_wrong", 401},
	}
	for _, tt := range tests {
		if got := get(tt.client, tt.path, tt.auth); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
