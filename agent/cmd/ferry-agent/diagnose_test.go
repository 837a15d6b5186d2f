package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/agent/config"
)

func TestDiagnose(t *testing.T) {
	var revoked atomic.Bool
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
		case r.URL.Path == "/agent/v1/connect" && r.Header.Get("Authorization") == "Bearer fra_x" && !revoked.Load():
			// As the coordinator's upgrader refuses diagnose's upgrade.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"bad_message","message":"websocket: unsupported version"}`)
		case r.URL.Path == "/agent/v1/connect":
			http.Error(w, "unknown or revoked agent credential", http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	}))
	defer coord.Close()
	dir := t.TempDir()
	book := filepath.Join(dir, "books.gnucash")
	if err := os.WriteFile(book, []byte("<gnc-v2/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.json")
	cfg := config.Default()
	cfg.Coordinator, cfg.Credential = coord.URL, "fra_x"
	cfg.Bindings = []config.Binding{{ConnectionID: "conn-ok", PlatformKey: "gnucash", Path: book}}
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	if err := run([]string{"diagnose", "--config", path}, &out, &errw); err != nil {
		t.Fatalf("diagnose of a healthy agent: %v\n%s%s", err, out.String(), errw.String())
	}
	for _, want := range []string{"Pass  source conn-ok", "disk", "Pass  clock", "version", "Pass  credential"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diagnose printed\n%s\nwant a line with %q", out.String(), want)
		}
	}

	// A revoked credential fails the run.
	revoked.Store(true)
	out.Reset()
	if err := run([]string{"diagnose", "--config", path}, &out, &errw); !errors.Is(err, errUnhealthy) || !strings.Contains(out.String(), "Fail  credential") {
		t.Errorf("diagnose with a revoked credential: %v\n%s; want the credential failing", err, out.String())
	}
	revoked.Store(false)

	// A book that went away fails the run.
	cfg.Bindings = append(cfg.Bindings, config.Binding{ConnectionID: "conn-gone", PlatformKey: "gnucash", Path: filepath.Join(dir, "gone.gnucash")})
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run([]string{"diagnose", "--config", path}, &out, &errw)
	if !errors.Is(err, errUnhealthy) || !strings.Contains(out.String(), "Fail  source conn-gone") {
		t.Errorf("diagnose with a missing book: %v\n%s; want a failure naming conn-gone", err, out.String())
	}
}
