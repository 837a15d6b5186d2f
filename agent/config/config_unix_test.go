//go:build !windows

package config

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Root linking into the service account's directory gives the file to that
// account: the service must be able to read what `sudo ferry-agent link`
// wrote.
func TestSaveAsRootGivesTheFileToTheDirectoryOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own files as another user")
	}
	dir := filepath.Join(t.TempDir(), "ferry")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.json")
	if err := Save(path, Default()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != nobody || st.Mode().Perm() != 0o600 {
		t.Errorf("owner %d mode %v, want %d and 0600", uid, st.Mode().Perm(), nobody)
	}
}
