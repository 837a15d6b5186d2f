package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/config"
)

func TestDiagnose(t *testing.T) {
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
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
	for _, want := range []string{"Pass  source conn-ok", "disk", "Pass  clock", "version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diagnose printed\n%s\nwant a line with %q", out.String(), want)
		}
	}

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
