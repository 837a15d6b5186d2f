//go:build !windows

package service

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// DefaultUser is the dedicated system account the agent runs as.
const DefaultUser = "ferry"

// EnsureUser creates the service account as a system user without a home
// or a login shell, unless it exists (the .deb's postinst makes it with
// adduser; a tar.gz install gets it here).
func EnsureUser(name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	cmds := [][]string{{"useradd", "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name}}
	if _, err := exec.LookPath("useradd"); err != nil { // BusyBox (Alpine)
		cmds = [][]string{{"addgroup", "-S", name}, {"adduser", "-S", "-D", "-H", "-h", "/nonexistent", "-s", "/sbin/nologin", "-G", name, name}}
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("create user %s: %s: %v: %s", name, c[0], err, out)
		}
	}
	return nil
}

// PrepareLayout: on Linux the self-update layout (/var/lib/ferry-agent) is
// made the service account's by install.sh, which creates it; there is
// nothing to grant here.
func PrepareLayout(string, string) error { return nil }

// PrepareConfig gives the configuration directory and file to the service
// account alone: directory 0700, files 0600, owned by the account. It
// refuses to finish while anything there is readable by others.
func PrepareConfig(path, account string) error {
	u, err := user.Lookup(account)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	for _, p := range []string{dir, path, filepath.Join(dir, "agent-status.json")} {
		mode := os.FileMode(0o600)
		if p == dir {
			mode = 0o700
		}
		if err := own(p, uid, gid, mode); err != nil {
			return err
		}
	}
	return nil
}

// own sets owner and mode of p, if it exists, and checks the result.
func own(p string, uid, gid int, mode os.FileMode) error {
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return fmt.Errorf("give %s to the service account: %w", p, err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("restrict %s: %w", p, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is still readable by other users (mode %v)", p, st.Mode().Perm())
	}
	return nil
}

// removeLeftovers deletes what kardianos/service's SysV install adds
// beside the script and its uninstall leaves: the runlevel links.
func removeLeftovers() error {
	links, _ := filepath.Glob("/etc/rc[0-6S].d/[SK][0-9][0-9]" + Name)
	var errs []error
	for _, l := range links {
		if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
