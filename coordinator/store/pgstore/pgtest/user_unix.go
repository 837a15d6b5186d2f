//go:build unix

package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

var sigquit = syscall.SIGQUIT

type credential = syscall.Credential

// serverUser is who runs PostgreSQL: the current user, or as root (which
// PostgreSQL refuses) the postgres user of Debian's package.
func serverUser() (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs another user: %w (run `make deps`, which installs Debian's postgresql package and its postgres user)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) chown(dir string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid))
}

// asServerUser runs cmd as the server's user, and ends it with the test
// process.
func (s *Server) asServerUser(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	setParentDeath(cmd.SysProcAttr)
}
