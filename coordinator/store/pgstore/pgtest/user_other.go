//go:build !unix

package pgtest

import (
	"os"
	"os/exec"
)

var sigquit = os.Kill

type credential struct{}

func serverUser() (*credential, error)       { return nil, nil }
func (s *Server) chown(string) error         { return nil }
func (s *Server) asServerUser(cmd *exec.Cmd) {}
