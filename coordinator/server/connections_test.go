package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
)

// At MaxConnections a further connection waits, unserved, until one of the
// served ones closes (none being idle, none can be closed to make room);
// the store's files are never crowded out.
func TestConnectionsLimited(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 1
	srv := serve(t, cfg)

	held, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// The held connection is in the middle of its request: not idle.
	if _, err := io.WriteString(held, "GET /healthz HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held connection accepted", func() bool { return srv.ln.(*connlimit.Listener).Counts().Ordinary == 1 })
	get := func(c net.Conn) (*http.Response, error) {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n"); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReader(c), nil)
	}

	waiting, err := net.Dial("tcp", srv.Addr()) // the kernel accepts it; the server does not
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	answered := make(chan error, 1)
	go func() {
		resp, err := get(waiting)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
		}
		answered <- err
	}()
	// No answer can be waited for; this bounds how long its absence is
	// looked for.
	select {
	case err := <-answered:
		t.Fatalf("second connection answered (%v) while the first is open; want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	held.Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("second connection after the first closed: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("second connection not served after the first closed")
	}
}

func TestMaxConnectionsDefault(t *testing.T) {
	files, ok := openFilesLimit()
	if !ok {
		t.Skip("no open-files limit on this system")
	}
	tests := []struct {
		set, want int
	}{
		{0, max(int(files)-filesReserve, 64)},
		{500, 500},
		{-1, 0},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.MaxConnections = tt.set
		if got := cfg.maxConnections(); got != tt.want {
			t.Errorf("MaxConnections %d: limit %d, want %d (open files %d)", tt.set, got, tt.want, files)
		}
	}
}
