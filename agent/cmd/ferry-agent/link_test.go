package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
)

// linkCmd runs `ferry-agent link` with the config at path.
func linkCmd(t *testing.T, path, coordinator, code string, extra ...string) (string, string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	args := append([]string{"link", "--config", path, "--coordinator", coordinator, "--code", code, "--source", "csv", "--path", sampleCSV}, extra...)
	err := run(args, &out, &errw)
	return out.String(), errw.String(), err
}

func loadConfig(t *testing.T, path string) config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func bindingIDs(cfg config.Config) []string {
	var ids []string
	for _, b := range cfg.Bindings {
		ids = append(ids, b.ConnectionID)
	}
	return ids
}

// A config linked to one coordinator is not linked to another: the
// credential never reaches the other one, and the config stays as it was.
func TestLinkRefusesAnotherCoordinator(t *testing.T) {
	first := startCoordinator(t)
	second := startCoordinator(t)
	rec := recordAuth(t, second)
	path := filepath.Join(t.TempDir(), "agent.json")
	_, _, code := first.newConnection()
	if _, errs, err := linkCmd(t, path, first.URL, code); err != nil {
		t.Fatalf("first link: %v %s", err, errs)
	}
	// Same coordinator, spelled with a trailing slash: a second binding.
	_, _, code = first.newConnection()
	if _, errs, err := linkCmd(t, path, first.URL+"/", code); err != nil {
		t.Fatalf("second link to the same coordinator: %v %s", err, errs)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cred := loadConfig(t, path).Credential
	if n := len(loadConfig(t, path).Bindings); n != 2 {
		t.Fatalf("bindings after two links to one coordinator: %d, want 2", n)
	}

	tests := []struct{ name, coordinator string }{
		{"another coordinator", rec.url},
		{"another coordinator, trailing slash", rec.url + "/"},
		{"another path on the same host", first.URL + "/other"},
		{"the other coordinator by another name", strings.Replace(rec.url, "127.0.0.1", "localhost", 1)},
	}
	for _, tt := range tests {
		_, _, code := second.newConnection()
		_, _, err := linkCmd(t, path, tt.coordinator, code)
		if err == nil {
			t.Errorf("%s: link to %s succeeded, want a refusal", tt.name, tt.coordinator)
			continue
		}
		for _, want := range []string{first.URL, strings.TrimRight(tt.coordinator, "/"), "--config", "--replace"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refusal %q does not name %q", tt.name, err, want)
			}
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, before) {
			t.Errorf("%s: the config changed:\n%s\nwant\n%s", tt.name, after, before)
		}
	}
	if rec.saw(cred) {
		t.Error("the first coordinator's credential reached the second")
	}
}

// --replace unlinks every binding at the old coordinator, with the old
// credential, then links afresh to the new one.
func TestLinkReplaceUnlinksTheOldCoordinatorFirst(t *testing.T) {
	first := startCoordinator(t)
	second := startCoordinator(t)
	rec := recordAuth(t, second)
	path := filepath.Join(t.TempDir(), "agent.json")
	var old [][2]string
	for range 2 {
		company, conn, code := first.newConnection()
		if _, errs, err := linkCmd(t, path, first.URL, code); err != nil {
			t.Fatalf("link to the first: %v %s", err, errs)
		}
		old = append(old, [2]string{company, conn})
	}
	oldCred := loadConfig(t, path).Credential

	_, conn, code := second.newConnection()
	out, errs, err := linkCmd(t, path, rec.url, code, "--replace")
	if err != nil {
		t.Fatalf("link --replace: %v\n%s%s", err, out, errs)
	}
	for _, o := range old {
		if got := first.connectionStatus(o[0], o[1]); got != "Deauthorized" {
			t.Errorf("old connection %s: %s, want Deauthorized", o[1], got)
		}
		if !strings.Contains(out, "Unlinked connection "+o[1]) {
			t.Errorf("link --replace did not say it unlinked %s:\n%s", o[1], out)
		}
	}
	cfg := loadConfig(t, path)
	if cfg.Coordinator != rec.url || cfg.Credential == "" || cfg.Credential == oldCred || !slices.Equal(bindingIDs(cfg), []string{conn}) {
		t.Errorf("config after --replace: coordinator %s, new credential %v, bindings %v; want %s, a new credential, [%s]",
			cfg.Coordinator, cfg.Credential != "" && cfg.Credential != oldCred, bindingIDs(cfg), rec.url, conn)
	}
	if rec.saw(oldCred) {
		t.Error("the old credential reached the new coordinator")
	}
}

// --replace with the old coordinator gone: nothing is linked unless
// --force, which says what stays linked there.
func TestLinkReplaceWithTheOldCoordinatorUnreachable(t *testing.T) {
	first := startCoordinator(t)
	second := startCoordinator(t)
	path := filepath.Join(t.TempDir(), "agent.json")
	_, oldConn, code := first.newConnection()
	if _, errs, err := linkCmd(t, path, first.URL, code); err != nil {
		t.Fatalf("link to the first: %v %s", err, errs)
	}
	first.Stop()
	_, conn, code := second.newConnection()
	if _, _, err := linkCmd(t, path, second.URL, code, "--replace"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("link --replace with the old coordinator down: %v, want a refusal naming --force", err)
	}
	if cfg := loadConfig(t, path); cfg.Coordinator != first.URL || !slices.Equal(bindingIDs(cfg), []string{oldConn}) {
		t.Fatalf("config after the refusal: %s %v, want %s [%s]", cfg.Coordinator, bindingIDs(cfg), first.URL, oldConn)
	}
	_, errs, err := linkCmd(t, path, second.URL, code, "--replace", "--force")
	if err != nil {
		t.Fatalf("link --replace --force: %v %s", err, errs)
	}
	if !strings.Contains(errs, "stay linked") || !strings.Contains(errs, oldConn) {
		t.Errorf("--force did not warn about %s staying linked: %q", oldConn, errs)
	}
	if cfg := loadConfig(t, path); cfg.Coordinator != second.URL || !slices.Equal(bindingIDs(cfg), []string{conn}) {
		t.Errorf("config after --force: %s %v, want %s [%s]", cfg.Coordinator, bindingIDs(cfg), second.URL, conn)
	}
}

// diagnose sends the credential to the config's coordinator only: a
// redirect to another port of the same host is not followed.
func TestDiagnoseDoesNotFollowRedirectsWithTheCredential(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "not a websocket upgrade", http.StatusBadRequest)
	}))
	defer other.Close()
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer coord.Close()
	path := filepath.Join(t.TempDir(), "agent.json")
	cfg := config.Default()
	cfg.Coordinator, cfg.Credential = coord.URL, "fra_secret"
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	_ = run([]string{"diagnose", "--config", path}, &out, &errw)
	mu.Lock()
	defer mu.Unlock()
	if slices.ContainsFunc(leaked, func(a string) bool { return strings.Contains(a, "fra_secret") }) {
		t.Error("the credential followed the redirect to another port")
	}
	if !strings.Contains(out.String(), "Fail  credential") || !strings.Contains(out.String(), "redirects") {
		t.Errorf("diagnose printed\n%s\nwant the credential check failing on the redirect", out.String())
	}
}

// A running agent whose config is relinked with --replace starts afresh
// with the new coordinator and credential.
func TestRunningAgentFollowsLinkReplace(t *testing.T) {
	first := startCoordinator(t)
	second := startCoordinator(t)
	path := filepath.Join(t.TempDir(), "agent.json")
	_, _, code := first.newConnection()
	if _, errs, err := linkCmd(t, path, first.URL, code); err != nil {
		t.Fatalf("link: %v %s", err, errs)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, path, newLogger(&logs, nil), nil, false) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runAgent: %v", err)
		}
	}()
	online := func(c *coordinator) func() bool {
		return func() bool {
			var page struct{ Results []struct{ Status string } }
			c.API("GET", "/agents", nil, &page)
			return slices.ContainsFunc(page.Results, func(a struct{ Status string }) bool { return a.Status == "Online" })
		}
	}
	waitUntil(t, 20*time.Second, "the agent online at the first coordinator", online(first))
	_, _, code = second.newConnection()
	if _, errs, err := linkCmd(t, path, second.URL, code, "--replace"); err != nil {
		t.Fatalf("link --replace: %v %s", err, errs)
	}
	waitUntil(t, 20*time.Second, "the agent online at the second coordinator", online(second))
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
