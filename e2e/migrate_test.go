package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// TestMigrateCommand runs `ferry-coordinator migrate` as an operator
// would: refused (exit 1, saying why) while the coordinator runs on the
// store, and without its flags; once the coordinator is stopped, it copies
// the store and prints each kind's counts from both sides (exit 0); a
// second run into the same database is refused, naming what it holds. The
// copy knows the linked agent by its credential and the admin key.
func TestMigrateCommand(t *testing.T) {
	parallel(t)
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatalf("PostgreSQL for the test: %v", err)
	}
	t.Cleanup(pg.Close)
	url, err := pg.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	c := startCoordinator(t, data, freeAddr(t))
	setupConnection(t, c, "csv")
	_, _, code := setupConnection(t, c, "csv")
	credential := agentCredential(t, linkAgent(t, c, code, "csv", sampleCSV))

	wantRun(t, 1, "in use by another process", "--from", data, "--to", url)
	wantRun(t, 1, "usage: ferry-coordinator migrate", "--from", data)
	wantRun(t, 1, "no Badger store in", "--from", t.TempDir(), "--to", url)

	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the coordinator did not stop 30 s after SIGTERM")
	}
	out := wantRun(t, 0, "Copied and verified", "--from", data, "--to", url)
	for _, line := range []string{`companies\s+2\s+2`, `connections\s+2\s+2`, `link codes\s+1\s+1`, `agents\s+1\s+1`, `API keys\s+1\s+1`} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(out) {
			t.Errorf("the table has no line %q:\n%s", line, out)
		}
	}
	wantRun(t, 1, "the target store is not empty: it holds", "--from", data, "--to", url)

	// The agent's credential and the admin key work on the copy.
	st, err := pgstore.Open(t.Context(), url, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if a, err := st.AgentByCredential(t.Context(), hub.HashCredential(credential)); err != nil || !a.Revoked.IsZero() {
		t.Errorf("the linked agent's credential on the copy: %+v, %v; want its agent", a, err)
	}
	if k, err := st.APIKeyByHash(t.Context(), api.HashKey(e2eKey)); err != nil || k.Scope != store.ScopeClient {
		t.Errorf("the admin key on the copy: %+v, %v; want the client key", k, err)
	}
}

// agentCredential reads the credential `ferry-agent link` wrote to config.
func agentCredential(t *testing.T, config string) string {
	t.Helper()
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ Credential string }
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg.Credential == "" {
		t.Fatalf("agent config %s: %v, credential %q", config, err, cfg.Credential)
	}
	return cfg.Credential
}

// wantRun runs `ferry-coordinator migrate args...`, fails unless it exits
// with code and its output has want, and returns the output.
func wantRun(t *testing.T, code int, want string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ferry-coordinator"), append([]string{"migrate"}, args...)...)
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	got := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("migrate %s: %v", strings.Join(args, " "), err)
	}
	if got != code || !strings.Contains(out, want) {
		t.Errorf("migrate %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(args, " "), got, out, code, want)
	}
	return out
}
