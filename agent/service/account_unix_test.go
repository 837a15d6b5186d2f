//go:build !windows

package service

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPrepareConfigLeavesNothingReadableByOthers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ferry")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.json")
	for _, p := range []string{path, filepath.Join(dir, "agent-status.json")} {
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := PrepareConfig(path, currentUser(t)); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, filepath.Join(dir, "agent-status.json"): 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
			t.Errorf("%s: owner %d, want %d", p, uid, os.Getuid())
		}
	}
}
