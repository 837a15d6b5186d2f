package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
)

// v2 builds a version 2 header of command cmd for src and dst.
func v2(cmd byte, src, dst netip.AddrPort, tlv []byte) []byte {
	var b bytes.Buffer
	b.Write(v2sig)
	b.WriteByte(0x20 | cmd)
	if src.Addr().Is4() {
		b.WriteByte(0x11)
	} else {
		b.WriteByte(0x21)
	}
	addrs := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	addrs = append(addrs, tlv...)
	b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(addrs))))
	b.Write(addrs)
	return b.Bytes()
}

func TestReadHeader(t *testing.T) {
	x := netip.MustParseAddrPort("203.0.113.7:4000")
	y := netip.MustParseAddrPort("[2001:db8::1]:5000")
	d4 := netip.MustParseAddrPort("127.0.0.1:80")
	d6 := netip.MustParseAddrPort("[::1]:80")
	tests := []struct {
		name string
		in   []byte
		want string // "" for no address, "error" for an error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\nGET"), "203.0.113.7:4000"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 ::1 5000 80\r\nGET"), "[2001:db8::1]:5000"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), ""},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 ::1 5000 80\r\n"), "error"},
		{"v1 bad port", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 70000 80\r\n"), "error"},
		{"v1 leading zero", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 04000 80\r\n"), "error"},
		{"v1 no CRLF", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\n"), "error"},
		{"v1 too long", []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), "error"},
		{"v2 tcp4", v2(1, x, d4, nil), "203.0.113.7:4000"},
		{"v2 tcp6 with TLVs", v2(1, y, d6, []byte{0x04, 0, 1, 0}), "[2001:db8::1]:5000"},
		{"v2 local", v2(0, x, d4, nil), ""},
		{"v2 short", v2(1, x, d4, nil)[:20], "error"},
		{"v2 bad version", append(append(append([]byte{}, v2sig...), 0x31, 0x11), v2(1, x, d4, nil)[14:]...), "error"},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), "error"},
		{"empty", nil, "error"},
	}
	for _, tt := range tests {
		a, err := ReadHeader(bufio.NewReader(bytes.NewReader(tt.in)))
		got := ""
		switch {
		case err != nil:
			got = "error"
		case a != nil:
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("%s: ReadHeader = %q (%v), want %q", tt.name, got, err, tt.want)
		}
	}
}

// The bytes after a header are the connection's, whichever version.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\nrest"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 ::1 5000 80\r\nrest"))
	f.Add([]byte("PROXY UNKNOWN\r\nrest"))
	f.Add(append(v2(1, netip.MustParseAddrPort("203.0.113.7:4000"), netip.MustParseAddrPort("127.0.0.1:80"), nil), "rest"...))
	f.Add(append(v2(0, netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[::1]:80"), []byte{1, 0, 0}), "rest"...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		a, err := ReadHeader(r)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(r)
		if !bytes.HasSuffix(in, rest) {
			t.Fatalf("rest %q is not the input's end", rest)
		}
		if a != nil {
			ta := a.(*net.TCPAddr)
			if !ta.AddrPort().IsValid() {
				t.Fatalf("invalid address %v", a)
			}
		}
	})
}

// serve runs an HTTP server on a loopback listener wrapped as the
// coordinator wraps it: PROXY headers beneath the connection limits, one
// connection per address. GET /hold waits for hold to close; every
// request answers with its RemoteAddr.
func serve(t *testing.T, trusted string, timeout time.Duration) (addr string, hold chan struct{}, seen chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	prefixes, err := ParsePrefixes(trusted)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	limited := connlimit.New(New(ln, prefixes, timeout, log), connlimit.Limits{PerAddress: 1}, log)
	hold = make(chan struct{})
	seen = make(chan string, 10)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- r.RemoteAddr
			if r.URL.Path == "/hold" {
				w.(http.Flusher).Flush()
				<-hold
			}
			_, _ = io.WriteString(w, r.RemoteAddr)
		}),
		ConnState:   limited.ConnState,
		ConnContext: limited.ConnContext,
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(limited) }()
	t.Cleanup(func() {
		select {
		case <-hold:
		default:
			close(hold)
		}
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String(), hold, seen
}

// dial connects and writes header and a GET of path; it returns the
// connection, with a deadline, for reading the answer.
func dial(t *testing.T, addr string, header []byte, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(header, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads an HTTP answer from c: its status and body, or an error
// when the connection was closed without one.
func answer(c net.Conn) (int, string, error) {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// A trusted source's v1 and v2 headers give the handlers and the
// per-address cap the client's address: two clients behind one proxy
// each have their own connection, and a second one of the same client is
// refused.
func TestTrustedHeaders(t *testing.T) {
	addr, hold, seen := serve(t, "127.0.0.0/8", 0)
	dst := netip.MustParseAddrPort("127.0.0.1:80")
	a := dial(t, addr, []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n"), "/hold")
	if got := <-seen; got != "203.0.113.7:4000" {
		t.Fatalf("v1: handler saw %s", got)
	}
	b := dial(t, addr, v2(1, netip.MustParseAddrPort("198.51.100.9:5000"), dst, nil), "/")
	if code, body, err := answer(b); err != nil || code != 200 || body != "198.51.100.9:5000" {
		t.Fatalf("v2 while v1 holds its connection: %d %q %v, want 200 from 198.51.100.9:5000", code, body, err)
	}
	<-seen
	c := dial(t, addr, v2(1, netip.MustParseAddrPort("203.0.113.7:4001"), dst, nil), "/")
	if code, _, err := answer(c); err == nil {
		t.Fatalf("second connection of 203.0.113.7 over the per-address cap of 1: %d, want closed", code)
	}
	l := dial(t, addr, v2(0, netip.MustParseAddrPort("192.0.2.1:1"), dst, nil), "/")
	if code, body, err := answer(l); err != nil || code != 200 || !strings.HasPrefix(body, "127.0.0.1:") {
		t.Fatalf("LOCAL: %d %q %v, want the proxy's own address", code, body, err)
	}
	<-seen
	close(hold)
	if code, body, err := answer(a); err != nil || code != 200 || body != "203.0.113.7:4000" {
		t.Fatalf("v1: %d %q %v", code, body, err)
	}
}

// A header from a source not trusted is not read: the request is bad
// input (400), and the connection counts under its real address.
func TestUntrustedHeader(t *testing.T) {
	addr, _, seen := serve(t, "192.0.2.0/24", 0)
	c := dial(t, addr, []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n"), "/")
	if code, _, err := answer(c); err != nil || code != http.StatusBadRequest {
		t.Fatalf("forged header: %d %v, want 400", code, err)
	}
	a := dial(t, addr, nil, "/hold")
	if got := <-seen; !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("handler saw %s", got)
	}
	b := dial(t, addr, []byte("PROXY TCP4 203.0.113.8 127.0.0.1 4000 80\r\n"), "/")
	if code, _, err := answer(b); err == nil {
		t.Fatalf("forged header while 127.0.0.1 holds its one connection: %d, want closed", code)
	}
	_ = a // held open until the cleanup
}

// A trusted source that sends nothing holds up no other connection, and is
// closed when its time for the header is up.
func TestNoHeader(t *testing.T) {
	addr, _, _ := serve(t, "127.0.0.1", time.Minute)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	b := dial(t, addr, []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n"), "/")
	if code, body, err := answer(b); err != nil || code != 200 || body != "203.0.113.7:4000" {
		t.Fatalf("while a trusted connection sends nothing: %d %q %v", code, body, err)
	}

	addr, _, _ = serve(t, "127.0.0.1", 100*time.Millisecond)
	for _, in := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, in)
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("sent %q, no header: read %d, %v; want the connection closed", in, n, err)
		}
	}
}

// isReset reports a connection reset by the peer (a close with unread
// bytes).
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.0.0.0/8, 127.0.0.9,::ffff:192.0.2.1/128,2001:db8::/32 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.9/32", "192.0.2.1/32", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/8"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q): no error", bad)
		}
	}
}
