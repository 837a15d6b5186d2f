package hub

import (
	"bufio"
	"net"
	"net/http"
	"syscall"
)

// An idle agent's reader waits for its socket to become readable before
// it calls into the websocket (frameConn.wait), so that while it waits its
// stack holds a few frames rather than gorilla's and bufio's reads: about
// 0.6 KiB used rather than 1.3 KiB, which fits the runtime's 2 KiB
// starting stack (the runtime keeps 928 bytes of a stack for its own
// calls, and starts goroutines with the stack its last collection's
// goroutines used on average, rounded up to a power of 2). Waiting on the
// socket is only right when the websocket has nothing read ahead of what
// it handed out: frameConn stops each read at the end of the websocket
// frame being read, so once a message is read nothing of the next is in
// the websocket's buffer.

// framedWriter is the ResponseWriter the upgrade is given: its Hijack
// hands the websocket a frameConn over the agent's TCP connection, where
// the hub can wait on it (socket); any other connection as it is.
type framedWriter struct {
	http.ResponseWriter
}

// Hijack is the server's, with the connection read frame by frame.
func (w framedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if raw := socket(nc); raw != nil {
		nc = &frameConn{Conn: nc, raw: raw}
	}
	return nc, brw, nil
}

// frameConn is an agent's connection as the websocket reads it: a read
// returns at most the rest of the frame it is in, as far as its header
// has said (the first two bytes of a header, then its extended length,
// then the mask and the payload). When the wait before a message has
// seen the frame's header on the socket (ahead), the whole frame is
// known: a read may take all of it, and a heartbeat, which fits the
// websocket's buffer, takes one read rather than two.
type frameConn struct {
	net.Conn
	raw syscall.RawConn
	// head is the header read so far (its first two bytes, then its
	// extended length); in is how much of it; left is what remains of
	// the frame once its length is known (the mask and the payload, or
	// the whole frame when ahead saw its header). wait peeks into head
	// between frames.
	head [10]byte
	in   uint8
	left uint64
}

// ahead takes b, the start of the socket's next bytes as wait peeked
// them between two frames: when they hold the frame's header up to its
// extended length of 16 bits (a frame under 64 KiB), the frame's length
// is known, and the next reads may read to its end.
func (f *frameConn) ahead(b []byte) {
	if f.in != 0 || f.left != 0 || len(b) < 2 {
		return
	}
	head, size := uint64(2), uint64(b[1]&0x7f)
	switch {
	case size == 126 && len(b) >= 4:
		head, size = 4, uint64(b[2])<<8|uint64(b[3])
	case size >= 126:
		return // a longer frame, or its length not all peeked: read as it comes
	}
	if b[1]&0x80 != 0 {
		size += 4 // the mask
	}
	f.left = head + size
}

// Read reads from the connection, to the end of the current frame at most.
func (f *frameConn) Read(p []byte) (int, error) {
	if want := f.want(); uint64(len(p)) > want {
		p = p[:want]
	}
	n, err := f.Conn.Read(p)
	f.consume(p[:n])
	return n, err
}

// want is how many bytes the frame being read still has, as far as known.
func (f *frameConn) want() uint64 {
	switch {
	case f.left > 0:
		return f.left
	case f.in < 2:
		return uint64(2 - f.in)
	}
	return uint64(f.headLen() - int(f.in))
}

// headLen is the length of the header's part before the mask: its first
// two bytes and its extended payload length.
func (f *frameConn) headLen() int {
	switch f.head[1] & 0x7f {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

// consume follows the bytes b read through the frame's structure.
func (f *frameConn) consume(b []byte) {
	if f.left > 0 {
		f.left -= uint64(len(b))
		return
	}
	f.in += uint8(copy(f.head[f.in:], b))
	if f.in < 2 || int(f.in) < f.headLen() {
		return
	}
	var size uint64
	switch n := f.head[1] & 0x7f; n {
	case 126:
		size = uint64(f.head[2])<<8 | uint64(f.head[3])
	case 127:
		for _, c := range f.head[2:10] {
			size = size<<8 | uint64(c)
		}
	default:
		size = uint64(n)
	}
	if f.head[1]&0x80 != 0 {
		size += 4 // the mask
	}
	f.in, f.left = 0, size
}
