package hub

import (
	"net"
	"syscall"
	"unsafe"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
)

// socket is the TCP socket under nc when what the websocket reads of nc
// is what the socket has (not a TLS record layer's or a PROXY header
// reader's buffer); nil otherwise.
func socket(nc net.Conn) syscall.RawConn {
	if c, ok := nc.(*connlimit.Conn); ok {
		nc = c.Conn
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// wait returns once the socket has something to read, has ended, or its
// read deadline has passed: the websocket's read then says which. Nothing
// of a message is buffered between two (Read), so the socket is where the
// next one is; what the peek saw of the next frame's header tells the
// reads where that frame ends (ahead).
func (f *frameConn) wait() {
	var n uintptr
	var errno syscall.Errno
	_ = f.raw.Read(func(fd uintptr) bool {
		n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&f.head[0])), 4,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		return errno != syscall.EAGAIN
	})
	if errno == 0 {
		f.ahead(f.head[:min(n, 4)])
	}
}
