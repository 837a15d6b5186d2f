//go:build !windows

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// warnUnreadable tells root, linking for the service account (the owner of
// the config directory), when that account cannot read the source: the
// service would fail where `link` as root succeeded. The check runs
// `test` as that account, so ACLs and groups count.
func warnUnreadable(w io.Writer, configPath, source string) {
	if os.Geteuid() != 0 {
		return
	}
	dir, err := os.Stat(filepath.Dir(configPath))
	if err != nil {
		return
	}
	st, ok := dir.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	if canRead(st.Uid, st.Gid, source) {
		return
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	fmt.Fprintf(w, "Warning: the service runs as %[1]s, which cannot read %[2]s. Grant it, e.g.:\n  sudo setfacl -m u:%[1]s:rX %[2]s   (and u:%[1]s:x on each folder above it)\n", name, source)
}

// canRead runs `test -r` (and -x for a folder) on path as uid.
func canRead(uid, gid uint32, path string) bool {
	cmd := exec.Command("/bin/sh", "-c", `test -r "$1" && { test ! -d "$1" || test -x "$1"; }`, "sh", path)
	cred := &syscall.Credential{Uid: uid, Gid: gid}
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				if n, err := strconv.Atoi(g); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

// needAdmin refuses a service command that only root can carry out.
func needAdmin(cmd string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s changes the system's services: run it as root (sudo ferry-agent %s)", cmd, cmd)
	}
	return nil
}
