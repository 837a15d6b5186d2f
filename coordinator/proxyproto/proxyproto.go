// Package proxyproto reads the PROXY protocol (versions 1 and 2) that a
// load balancer such as HAProxy (send-proxy-v2) puts before a connection's
// bytes, so that the coordinator sees each client's address rather than
// the proxy's: every per-address bound (connections, failed
// authentications, link exchanges, Portal sign-ins) and the logs key on it.
//
// Only connections from trusted sources are read: one from a trusted
// source must begin with a header, and one from any other source is left
// as it is, so nobody else can claim an address. The header is read off
// the accept loop, within a deadline, so a trusted source that connects
// and sends nothing holds up no other connection.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/shared/lograte"
)

// HeaderTimeout is how long a trusted source has to send its header.
const HeaderTimeout = 5 * time.Second

// maxPending is how many trusted connections may be waiting for their
// headers at once; past it the listener stops accepting until one ends.
const maxPending = 256

// ParsePrefixes reads a comma-separated list of CIDR prefixes (a bare
// address is its own /32 or /128).
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", f)
		}
		if p.Addr().Is4In6() { // the IPv4 addresses it covers, as Unmap gives them
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q: an IPv4-mapped prefix shorter than /96", f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Listener is a net.Listener whose connections from trusted sources carry
// the client's address the PROXY header names as their RemoteAddr.
type Listener struct {
	net.Listener
	trusted []netip.Prefix
	timeout time.Duration
	log     *slog.Logger

	accepted chan accepted
	done     chan struct{}
	slots    chan struct{} // one per connection waiting for its header
	wg       sync.WaitGroup
	close    sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{}
	bad     lograte.Limiter
}

type accepted struct {
	c   net.Conn
	err error
}

// New wraps ln; connections from sources in trusted must begin with a
// PROXY header, read within timeout (HeaderTimeout when 0). With no
// trusted sources it returns ln as it is.
func New(ln net.Listener, trusted []netip.Prefix, timeout time.Duration, log *slog.Logger) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	if timeout <= 0 {
		timeout = HeaderTimeout
	}
	l := &Listener{
		Listener: ln, trusted: trusted, timeout: timeout, log: log,
		accepted: make(chan accepted),
		done:     make(chan struct{}),
		slots:    make(chan struct{}, maxPending),
		pending:  map[net.Conn]struct{}{},
	}
	l.wg.Add(1)
	go l.run()
	return l
}

// Accept returns the next connection: an untrusted one as it came, a
// trusted one once its header is read.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case a := <-l.accepted:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and the connections still waiting for their
// headers, and waits for its goroutines.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.close.Do(func() {
		close(l.done)
		l.mu.Lock()
		for c := range l.pending {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return err
}

// run is the accept loop. Errors go to Accept (http.Server backs off on
// temporary ones); the loop ends when the listener is closed.
func (l *Listener) run() {
	defer l.wg.Done()
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.Listener.Accept()
		if err != nil || !l.isTrusted(c.RemoteAddr()) {
			<-l.slots
			if !l.deliver(accepted{c, err}) || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			<-l.slots
			_ = c.Close()
			return
		default:
		}
		l.pending[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(c)
	}
}

// deliver hands a to Accept; false (a's connection closed) when the
// listener closed first.
func (l *Listener) deliver(a accepted) bool {
	select {
	case l.accepted <- a:
		return true
	case <-l.done:
		if a.c != nil {
			_ = a.c.Close()
		}
		return false
	}
}

// handshake reads c's header and hands the connection on, or closes it.
func (l *Listener) handshake(c net.Conn) {
	defer l.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(l.timeout))
	br := bufio.NewReader(c)
	remote, err := ReadHeader(br)
	_ = c.SetReadDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	<-l.slots
	if err != nil {
		if n, ok := l.bad.Allow(""); ok {
			l.log.Warn("connections closed: no valid PROXY header from a trusted source", "remote", c.RemoteAddr().String(), "error", err.Error(), "closed", n)
		}
		_ = c.Close()
		return
	}
	if remote == nil {
		remote = c.RemoteAddr()
	}
	l.deliver(accepted{c: &Conn{Conn: c, r: br, remote: remote}})
}

// isTrusted reports whether a is in one of the trusted prefixes.
func (l *Listener) isTrusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := ta.AddrPort().Addr().Unmap().WithZone("")
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Conn is a connection whose header was read: RemoteAddr is the client's
// address, and Read starts with the bytes after the header.
type Conn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

// Read reads what followed the header.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// RemoteAddr is the client's address the header named, or the proxy's
// for a LOCAL header (the proxy's own health checks).
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// v2sig begins every version 2 header.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1 is the longest a version 1 header may be, CRLF included.
const maxV1 = 107

// ReadHeader reads a PROXY header of either version from r and returns the
// source address it names: nil when it names none (a LOCAL command, an
// UNKNOWN or unspecified protocol), in which case the connection's own
// address stands.
func ReadHeader(r *bufio.Reader) (net.Addr, error) {
	b, err := r.Peek(1)
	if err != nil {
		return nil, err
	}
	switch b[0] {
	case 'P':
		return readV1(r)
	case '\r':
		return readV2(r)
	}
	return nil, errors.New("no PROXY header")
}

// readV1 reads "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n".
func readV1(r *bufio.Reader) (net.Addr, error) {
	var line []byte
	for len(line) < maxV1 {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return nil, errors.New("PROXY v1: header not ended by CRLF within 107 bytes")
	}
	f := strings.Split(s, " ")
	if f[0] != "PROXY" || len(f) < 2 {
		return nil, errors.New("PROXY v1: malformed header")
	}
	if f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, errors.New("PROXY v1: malformed header")
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sport, err3 := parsePort(f[4])
	_, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("PROXY v1: %w", err)
	}
	v4 := f[1] == "TCP4"
	if src.Is4() != v4 || dst.Is4() != v4 || src.Zone() != "" || dst.Zone() != "" {
		return nil, errors.New("PROXY v1: addresses do not match the protocol")
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, sport)), nil
}

// parsePort reads a decimal port, 0 to 65535, without a sign or leading
// zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || s[0] == '+' || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// readV2 reads a binary header: the signature, version and command,
// family and protocol, length, addresses, and TLVs (skipped).
func readV2(r *bufio.Reader) (net.Addr, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if !bytes.Equal(h[:12], v2sig) {
		return nil, errors.New("no PROXY header")
	}
	if h[12]>>4 != 2 {
		return nil, fmt.Errorf("PROXY v2: version %d", h[12]>>4)
	}
	cmd := h[12] & 0xf
	if cmd > 1 {
		return nil, fmt.Errorf("PROXY v2: command %d", cmd)
	}
	body := make([]byte, binary.BigEndian.Uint16(h[14:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if cmd == 0 { // LOCAL: the proxy's own connection
		return nil, nil
	}
	var n int
	switch h[13] >> 4 {
	case 1:
		n = 4
	case 2:
		n = 16
	default: // unspecified or unix: no address to use
		return nil, nil
	}
	if len(body) < 2*n+4 {
		return nil, errors.New("PROXY v2: addresses shorter than their family")
	}
	src, _ := netip.AddrFromSlice(body[:n])
	port := binary.BigEndian.Uint16(body[2*n:])
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, port)), nil
}
