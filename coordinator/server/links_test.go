package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
)

// apiCall calls the coordinator's API with the admin key.
func apiCall(t *testing.T, srv *Server, key, method, path string, body, v any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+srv.Addr()+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// pageStatus GETs a link URL's path and query from the coordinator.
func pageStatus(t *testing.T, srv *Server, link string) int {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestLinkURLsOpenTheirPages: the linkUrl and redirect the API gives open
// the coordinator's link pages, with the same tokens after a restart (the
// secret is in the store); without their token they are 404.
func TestLinkURLsOpenTheirPages(t *testing.T) {
	cfg := testConfig(t)
	first, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Serve(ctx) }()
	var co struct{ ID, Redirect string }
	if s := apiCall(t, first, cfg.AdminKey, "POST", "/companies", map[string]any{"name": "Acme"}, &co); s != 200 {
		t.Fatalf("POST /companies: %d", s)
	}
	var cn struct{ ID, LinkURL string }
	if s := apiCall(t, first, cfg.AdminKey, "POST", "/companies/"+co.ID+"/connections", map[string]any{"platformKey": "csv"}, &cn); s != 200 {
		t.Fatalf("POST connections: %d", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	srv := serve(t, cfg)
	var again struct{ LinkURL string }
	apiCall(t, srv, cfg.AdminKey, "GET", "/companies/"+co.ID+"/connections/"+cn.ID, nil, &again)
	if again.LinkURL != cn.LinkURL {
		t.Errorf("linkUrl after a restart: %q, want %q", again.LinkURL, cn.LinkURL)
	}
	bare := func(link string) string {
		u, _ := url.Parse(link)
		u.RawQuery = ""
		return u.String()
	}
	tests := []struct {
		name, link string
		want       int
	}{
		{"linkUrl", cn.LinkURL, 200},
		{"redirect", co.Redirect, 200},
		{"linkUrl without its token", bare(cn.LinkURL), 404},
		{"redirect without its token", bare(co.Redirect), 404},
	}
	for _, tt := range tests {
		if got := pageStatus(t, srv, tt.link); got != tt.want {
			t.Errorf("%s (%s): %d, want %d", tt.name, tt.link, got, tt.want)
		}
	}
}
