//go:build !windows

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultPath is where the service keeps its configuration.
func DefaultPath() string { return "/etc/ferry/agent.json" }

// checkPrivate refuses a config file that group or others can read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s %w %s", path, errNotPrivate, path)
	}
	return nil
}

// restrict makes the file owner-only. Written by root (sudo ferry-agent
// link) into a directory that belongs to the service account, the file is
// given to that account, so the service can read what root linked.
func restrict(path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	st, ok := dir.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give the config to the service account: %w", err)
	}
	return nil
}
