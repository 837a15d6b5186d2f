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
	"strings"
	"syscall"
)

// accessScript runs as the account: for each pair of arguments (a test
// and a path) it runs the test, and at the first that fails prints its
// index and exits 1. The kernel answers as for the account itself, so
// groups, ACLs and noexec mounts count.
const accessScript = `i=0
while [ $# -gt 1 ]; do
	case "$1" in
	x) test -d "$2" && test -x "$2" ;;
	exec) test -f "$2" && test -x "$2" ;;
	r) test -r "$2" && { test ! -d "$2" || test -x "$2"; } ;;
	esac || { echo "$i"; exit 1; }
	i=$((i+1))
	shift 2
done`

type accessCheck struct {
	test, path string
	need       Need
}

// CheckAccess checks, as account (its uid, primary and supplementary
// groups), that it can reach every need: enter each folder above it, then
// run or read it. The first path at fault is an *AccessError saying how
// to fix it. Only root can check as another account; anyone else checks
// nothing.
func CheckAccess(account string, needs []Need) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(account)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	cred, err := credential(u)
	if err != nil {
		return err
	}
	var checks []accessCheck
	seen := map[string]bool{}
	for _, n := range needs {
		p := filepath.Clean(n.Path)
		var dirs []string
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if d == filepath.Dir(d) {
				break
			}
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			if !seen[dirs[i]] {
				seen[dirs[i]] = true
				checks = append(checks, accessCheck{"x", dirs[i], n})
			}
		}
		switch {
		case n.Exec:
			checks = append(checks, accessCheck{"exec", p, n})
		case n.Enter && !seen[p]:
			seen[p] = true
			checks = append(checks, accessCheck{"x", p, n})
		case !n.Enter:
			checks = append(checks, accessCheck{"r", p, n})
		}
	}
	args := []string{"-c", accessScript, "sh"}
	for _, c := range checks {
		args = append(args, c.test, c.path)
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("check access as %s: %w", account, err)
	}
	if err == nil {
		return nil
	}
	i, perr := strconv.Atoi(strings.TrimSpace(string(out)))
	if perr != nil || i < 0 || i >= len(checks) {
		return fmt.Errorf("check access as %s: %v %s", account, err, exit.Stderr)
	}
	c := checks[i]
	return &AccessError{Account: account, Path: c.path, Need: c.need, Fix: fix(account, c)}
}

// fix says how to let the account reach c's path.
func fix(account string, c accessCheck) string {
	st, err := os.Stat(c.path)
	if err != nil {
		return fmt.Sprintf("It cannot be found (%v).", err)
	}
	owner := "?"
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		owner = strconv.Itoa(int(sys.Uid))
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
	}
	mode := fmt.Sprintf(" (now %v, owner %s)", st.Mode(), owner)
	switch c.test {
	case "x":
		return fmt.Sprintf("Let it in%s, e.g.: sudo chmod o+x %s   or: sudo setfacl -m u:%s:x %s", mode, c.path, account, c.path)
	case "exec":
		return fmt.Sprintf("Make it executable by the account%s, e.g.: sudo chmod 0755 %s; or install the binary where every account may run it (/usr/local/bin)", mode, c.path)
	}
	what := "r"
	if st.IsDir() {
		what = "rX"
	}
	return fmt.Sprintf("Grant it read access%s, e.g.: sudo setfacl -m u:%s:%s %s", mode, account, what, c.path)
}

// credential is the account's uid and groups, as a login gets them.
func credential(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("service account %s: uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("service account %s: gid %q", u.Username, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}
