//go:build windows

package service

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DefaultUser is the service's virtual account: a low-privilege identity
// of its own that Windows manages, with no password.
const DefaultUser = `NT SERVICE\` + Name

// EnsureUser: Windows creates a virtual account with its service.
func EnsureUser(string) error { return nil }

// PrepareConfig gives the configuration directory to SYSTEM,
// Administrators and the service account alone (inheritance removed), and
// its files inherit that.
func PrepareConfig(path, account string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	if err := icacls(dir, "/inheritance:r", "/grant:r",
		"*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", account+":(OI)(CI)M"); err != nil {
		return err
	}
	for _, f := range []string{path, filepath.Join(dir, "agent-status.json")} {
		if _, err := os.Stat(f); err == nil {
			if err := icacls(f, "/reset"); err != nil {
				return err
			}
		}
	}
	return nil
}

func icacls(args ...string) error {
	out, err := exec.Command("icacls", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("icacls %s: %v: %s", args[0], err, out)
	}
	return nil
}

func removeLeftovers() error { return nil }
