//go:build windows

package service

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
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
			if err := checkNotPublic(f); err != nil {
				return err
			}
		}
	}
	return checkNotPublic(dir)
}

// PrepareLayout lets the service account change dir, the folder of the
// agent's executable (the MSI's Program Files\Ferry, or wherever
// `ferry-agent install` was run from), which is its self-update layout
// (agent/update): an update unpacks each version in dir\versions\, then
// renames the running ferry-agent.exe into it and moves the new one in.
// That takes Modify on the folder and what it holds (adding, renaming and
// deleting files and folders); the rest of the folder's ACL (SYSTEM and
// Administrators in full, Users read and run, from Program Files) stays.
func PrepareLayout(dir, account string) error {
	return icacls(dir, "/grant", account+":(OI)(CI)M")
}

// checkNotPublic refuses a file whose ACL lets Everyone, Users or
// Authenticated Users in (by SID: names differ between languages).
func checkNotPublic(path string) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read the ACL of %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("read the ACL of %s: %w", path, err)
	}
	if dacl == nil {
		return fmt.Errorf("%s has no ACL: everyone may read it", path)
	}
	for i := uint16(0); i < dacl.AceCount; i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, uint32(i), &ace); err != nil {
			return fmt.Errorf("read the ACL of %s: %w", path, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		for _, public := range []windows.WELL_KNOWN_SID_TYPE{windows.WinWorldSid, windows.WinBuiltinUsersSid, windows.WinAuthenticatedUserSid} {
			if sid.IsWellKnown(public) {
				return fmt.Errorf("%s is still readable by %s", path, sid)
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
