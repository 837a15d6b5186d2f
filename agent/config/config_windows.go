//go:build windows

package config

import (
	"os"
	"path/filepath"
)

// DefaultPath is where the service keeps its configuration.
func DefaultPath() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, "Ferry", "agent.json")
}

// checkPrivate: on Windows the installer sets the ACL (administrators and
// the service account only); mode bits say nothing there.
func checkPrivate(string) error { return nil }

func restrict(string) error { return nil }
