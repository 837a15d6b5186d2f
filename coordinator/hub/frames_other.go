//go:build !linux

package hub

import (
	"net"
	"syscall"
)

// socket is nil: the reader waits in the websocket's read.
func socket(net.Conn) syscall.RawConn { return nil }

// wait returns at once.
func (f *frameConn) wait() {}
