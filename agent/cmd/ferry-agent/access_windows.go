//go:build windows

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/ferry-sync/ferry/agent/service"
)

// warnUnreadable gives the service account read access to the source
// (Windows lets every account traverse folders, so the source's own ACL is
// what counts), or says how when that fails (the service is not installed
// yet, or this prompt is not an administrator's).
func warnUnreadable(w io.Writer, _ string, source string) {
	grant := service.DefaultUser + ":RX"
	if st, err := os.Stat(source); err == nil && st.IsDir() {
		grant = service.DefaultUser + ":(OI)(CI)RX"
	}
	if out, err := exec.Command("icacls", source, "/grant", grant).CombinedOutput(); err != nil {
		fmt.Fprintf(w, "Warning: could not let the service (%s) read %s: %s\nGrant it, as an administrator: icacls \"%s\" /grant \"%s\"\n",
			service.DefaultUser, source, out, source, grant)
	}
}

// needAdmin: Windows refuses a service change to a user who is not an
// administrator, with its own message.
func needAdmin(string) error { return nil }
