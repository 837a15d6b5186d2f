//go:build !windows

package config

import (
	"fmt"
	"os"
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
		return fmt.Errorf("config %s %w %s", path, errNotPrivate, path)
	}
	return nil
}

func restrict(path string) error { return os.Chmod(path, 0o600) }
