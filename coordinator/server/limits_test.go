package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// from is an HTTP client whose connections come from a loopback address
// of the test's choosing (127.0.0.1 is the default client's).
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestAuthFailuresShared: wrong API keys and unknown agent credentials
// count together per address; past MaxAuthFailures both the API and the
// agents' endpoints answer 429, to that address only.
func TestAuthFailuresShared(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxAuthFailures = 4
	srv := serve(t, cfg)
	one, two := from(t, "127.0.0.1"), from(t, "127.0.0.2")
	for i := range 2 {
		get(t, one, srv, "/companies", fmt.Sprintf("Bearer wrong-%d", i))
		get(t, one, srv, "/agent/v1/connect", fmt.Sprintf("Bearer fra_wrong-%d", i))
	}
	tests := []struct {
		name   string
		client *http.Client
		path   string
		auth   string
		want   int
	}{
		{"API, the admin key, same address", one, "/companies", "Bearer " + cfg.AdminKey, 429},
		{"agents, same address", one, "/agent/v1/connect", "Bearer fra_wrong", 429},
		{"API, the admin key, another address", two, "/companies", "Bearer " + cfg.AdminKey, 200},
		{"agents, another address", two, "/agent/v1/connect", "Bearer fra_wrong", 401},
	}
	for _, tt := range tests {
		if got := get(t, tt.client, srv, tt.path, tt.auth); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialFrom opens a TCP connection to the server from a loopback address.
func dialFrom(t *testing.T, srv *Server, ip string) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 15 * time.Second}).Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keepAlive makes one request on c and leaves it open, idle.
func keepAlive(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
}

// closedByServer reports whether the server closed c within 10 s.
func closedByServer(c net.Conn) bool {
	// Under the server's ReadHeaderTimeout (10 s), so a close is the
	// server's answer to the test's case, not that timeout.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// agentWelcomed connects an agent's control channel from ip with a stored
// credential and reports whether it was welcomed.
func agentWelcomed(t *testing.T, srv *Server, ip, secret string) error {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second,
		NetDial: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).Dial}
	ws, _, err := d.Dial("ws://"+srv.Addr()+protocol.ConnectPath, http.Header{"Authorization": {"Bearer " + secret}})
	if err != nil {
		return err
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	if err := ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "h", Hello: &protocol.Hello{
		Versions: []int{protocol.Version}, Hostname: "pc", OS: "linux", AgentVersion: "test", Capacity: 2}}); err != nil {
		return err
	}
	var m protocol.Message
	if err := ws.ReadJSON(&m); err != nil {
		return err
	}
	if m.Type != protocol.TypeWelcome {
		return fmt.Errorf("got %s, want welcome", m.Type)
	}
	return nil
}

// storedAgent stores an agent and returns its credential.
func storedAgent(t *testing.T, srv *Server, id string) string {
	t.Helper()
	secret := "fra_" + id + "-secret"
	if err := srv.Store.CreateAgent(t.Context(), store.Agent{ID: id, CredentialHash: hub.HashCredential(secret), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestIdleConnectionsDoNotShutOutOthers: with MaxConnections 50, 50 idle
// keep-alive connections from one address are held to the per-address cap
// (the longest idle closed to admit newer ones), and an agent and another
// address still get in.
func TestIdleConnectionsDoNotShutOutOthers(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections, cfg.IdleTimeout = 50, time.Hour
	srv := serve(t, cfg)
	lim := srv.ln.(*connlimit.Listener)
	perAddress := cfg.connectionLimits().PerAddress
	var conns []net.Conn
	for i := range 50 {
		c := dialFrom(t, srv, "127.0.0.1")
		keepAlive(t, c)
		conns = append(conns, c)
		// The server marks a connection idle after the client has read its
		// answer: wait for it, or the next one may find none idle to close.
		waitFor(t, "the connection idle", func() bool { return lim.Counts().Idle == min(i+1, perAddress) })
	}
	if got := lim.Counts().Ordinary; got > perAddress {
		t.Errorf("%d connections of one address open, want at most %d", got, perAddress)
	}
	if !closedByServer(conns[0]) {
		t.Error("the longest idle connection is still open, want it closed to admit newer ones")
	}
	if err := agentWelcomed(t, srv, "127.0.0.2", storedAgent(t, srv, "agent-1")); err != nil {
		t.Errorf("agent from another address: %v, want welcomed", err)
	}
	if got := get(t, from(t, "127.0.0.3"), srv, "/companies", "Bearer "+cfg.AdminKey); got != 200 {
		t.Errorf("API call from another address: %d, want 200", got)
	}
}

// TestReserveForAgents: when ordinary connections that are not idle hold
// everything but the reserve, a further API call is 503 with Retry-After
// while an agent's control channel still gets in, and leaves the ordinary
// connections.
func TestReserveForAgents(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections, cfg.IdleTimeout = 20, time.Hour
	srv := serve(t, cfg)
	lim := srv.ln.(*connlimit.Listener)
	l := cfg.connectionLimits()
	// Busy connections (in the middle of their request headers) from a few
	// addresses, up to the ordinary connections' share.
	for i := range l.Max - l.Reserve {
		c := dialFrom(t, srv, fmt.Sprintf("127.0.1.%d", 1+i/l.PerAddress))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the busy connections accepted", func() bool { return lim.Counts().Ordinary == l.Max-l.Reserve })
	c := from(t, "127.0.0.3")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+srv.Addr()+"/companies", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.AdminKey)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"detailedErrorCode":50002`) {
		t.Errorf("API call in the reserve: %d %q %s, want 503 with Retry-After in the API's shape", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if err := agentWelcomed(t, srv, "127.0.0.2", storedAgent(t, srv, "agent-1")); err != nil {
		t.Fatalf("agent while ordinary connections are at their cap: %v, want welcomed", err)
	}
	if got := lim.Counts(); got.Control != 1 || got.Ordinary != l.Max-l.Reserve {
		t.Errorf("counts %+v, want 1 control channel beside %d ordinary", got, l.Max-l.Reserve)
	}
}

// TestConnectionsPerAddress: past the cap, a connection from that address
// closes its longest idle one, or is closed at once when none is idle;
// other addresses are not affected.
func TestConnectionsPerAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections, cfg.MaxConnectionsPerAddress, cfg.IdleTimeout = -1, 3, time.Hour
	srv := serve(t, cfg)
	lim := srv.ln.(*connlimit.Listener)
	idle := dialFrom(t, srv, "127.0.0.4")
	keepAlive(t, idle)
	// The server marks it idle after the client has read its answer.
	waitFor(t, "the kept-alive connection idle", func() bool { return lim.Counts().Idle == 1 })
	for range 2 {
		busy := dialFrom(t, srv, "127.0.0.4")
		if _, err := io.WriteString(busy, "GET /healthz HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the busy connections accepted", func() bool { return lim.Counts().Ordinary == 3 })
	tests := []struct {
		name   string
		ip     string
		closed net.Conn // the connection the server should close, nil: the new one
		want   bool
	}{
		{"the idle one makes room", "127.0.0.4", idle, true},
		{"none idle: the new one is closed", "127.0.0.4", nil, true},
		{"another address", "127.0.0.5", nil, false},
	}
	for _, tt := range tests {
		c := dialFrom(t, srv, tt.ip)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n"); err != nil && !tt.want {
			t.Fatal(err)
		}
		if !tt.want {
			// Not closed: the request, completed, is served.
			if err := served(c); err != nil {
				t.Errorf("%s: %v, want served", tt.name, err)
			}
			continue
		}
		watch := tt.closed
		if watch == nil {
			watch = c
		}
		if !closedByServer(watch) {
			t.Errorf("%s: not closed, want closed", tt.name)
		}
	}
}

// served completes the request begun on c with its last header line and
// reads the answer: nil when it is 200.
func served(c net.Conn) error {
	if _, err := io.WriteString(c, "Host: ferry.test\r\n\r\n"); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestIdleTimeout: an idle keep-alive connection is closed after
// IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 200 * time.Millisecond
	srv := serve(t, cfg)
	c := dialFrom(t, srv, "127.0.0.1")
	keepAlive(t, c)
	if !closedByServer(c) {
		t.Error("idle connection still open after 10 s, want it closed after the idle timeout")
	}
}

// get calls path with auth through c and returns the status.
func get(t *testing.T, c *http.Client, srv *Server, path, auth string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+srv.Addr()+path, nil)
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
