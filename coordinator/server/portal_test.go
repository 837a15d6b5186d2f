package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPortalIsMountedAndItsStreamsEndOnShutdown serves a coordinator, signs
// in to the Portal, opens a company's live stream and stops the
// coordinator: Serve returns although the stream was open and the shutdown
// timeout is an hour.
func TestPortalIsMountedAndItsStreamsEndOnShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.AdminKey, cfg.ShutdownTimeout = "127.0.0.1:0", t.TempDir(), "server-test-key-0123456789abcdefghij", time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	base := "http://" + srv.Addr()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/" {
		t.Errorf("GET / from a browser: %d %q, want 303 to /portal/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err = c.Get(base + "/"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET / from an API client: %d %s, want the API's 404", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = c.Get(base + "/portal/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in page: %d\n%s", resp.StatusCode, page)
	}
	resp, err = c.PostForm(base+"/portal/signin", url.Values{"csrf": {string(m[1])}, "key": {cfg.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", base+"/companies", strings.NewReader(`{"name":"Acme"}`))
	req.Header.Set("Authorization", "Bearer "+cfg.AdminKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var co struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&co)
	resp.Body.Close()
	if err != nil || co.ID == "" {
		t.Fatalf("create company: %d %v", resp.StatusCode, err)
	}

	resp, err = c.Get(base + "/portal/companies/" + co.ID + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("live stream: %d %q %v", resp.StatusCode, line, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return: the open live stream holds the shutdown")
	}
}
