package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/config"
)

// The self-test an update runs of a new binary passes for a linked agent
// whose books open and whose coordinator takes its credential, and fails,
// naming the fault, when a book is gone or the credential is refused.
func TestSelfTest(t *testing.T) {
	c := startCoordinator(t)
	_, _, code := c.newConnection()
	path := filepath.Join(t.TempDir(), "agent.json")
	if _, errw, err := linkCmd(t, path, c.URL, code); err != nil {
		t.Fatalf("link: %v\n%s", err, errw)
	}
	cfg := loadConfig(t, path)
	book, _ := filepath.Abs("../../../../shared/testdata/gnucash/simple-sqlite.gnucash")
	cfg.Bindings = append(cfg.Bindings, config.Binding{ConnectionID: "conn-book", CompanyID: cfg.Bindings[0].CompanyID, PlatformKey: "gnucash", Path: book})
	save := func(cfg config.Config) {
		if err := config.Save(path, cfg); err != nil {
			t.Fatal(err)
		}
	}
	save(cfg)
	selftest := func() (string, error) {
		var out, errw bytes.Buffer
		err := run([]string{"selftest", "--config", path}, &out, &errw)
		return out.String() + errw.String(), err
	}
	if out, err := selftest(); err != nil || !strings.Contains(out, "self-test passed") {
		t.Fatalf("selftest of a healthy agent: %v\n%s", err, out)
	}

	gone := cfg
	gone.Bindings = append(append([]config.Binding(nil), cfg.Bindings...),
		config.Binding{ConnectionID: "conn-gone", CompanyID: cfg.Bindings[0].CompanyID, PlatformKey: "gnucash", Path: filepath.Join(t.TempDir(), "gone.gnucash")})
	save(gone)
	if _, err := selftest(); err == nil || !strings.Contains(err.Error(), "conn-gone") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("selftest with a missing book: %v; want it failing on conn-gone", err)
	}

	refused := cfg
	refused.Credential = "fra_not-this-agent"
	save(refused)
	if _, err := selftest(); err == nil || !strings.Contains(err.Error(), "refuses this agent's credential") {
		t.Errorf("selftest with a refused credential: %v; want the refusal", err)
	}
}
