package transport

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/agent/config"
)

// connectProxy is a small forward proxy: it answers CONNECT, wanting
// Basic credentials when auth is set, and counts the tunnels it opened.
type connectProxy struct {
	srv     *httptest.Server
	auth    string
	tunnels atomic.Int32
	wg      sync.WaitGroup
}

func newConnectProxy(t *testing.T, user, password string) *connectProxy {
	p := &connectProxy{}
	if user != "" {
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() { p.srv.Close(); p.wg.Wait() })
	return p
}

func (p *connectProxy) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *connectProxy) serve(w http.ResponseWriter, r *http.Request) {
	// Counted from the start: the server's Close stops waiting for a
	// connection once it is hijacked, so the cleanup's Wait must already
	// see this handler when it adds its two copies.
	p.wg.Add(1)
	defer p.wg.Done()
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	if p.auth != "" && r.Header.Get("Proxy-Authorization") != p.auth {
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "credentials", http.StatusProxyAuthRequired)
		return
	}
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		return
	}
	p.tunnels.Add(1)
	p.wg.Add(2)
	go func() { defer p.wg.Done(); io.Copy(up, down); up.Close() }()
	go func() { defer p.wg.Done(); io.Copy(down, up); down.Close() }()
}

func newPath(t *testing.T, cfg config.Config) *Path {
	t.Helper()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, p *Path, url string) (*http.Response, error) {
	t.Helper()
	c := &http.Client{Transport: p.HTTPTransport()}
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// --proxy is used for a loopback coordinator (which the environment's
// proxy never is), with its credentials; without them, or with wrong
// ones, the error names the proxy and says which.
func TestConfiguredProxyWithCredentials(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	proxy := newConnectProxy(t, "ana", "s3cret")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCert(t, ca, srv)

	for _, tt := range []struct{ name, proxy, want string }{
		{"none", "http://" + proxy.addr(), "wants credentials (407 Proxy Authentication Required) and the agent has none"},
		{"wrong", "http://ana:nope@" + proxy.addr(), "refused the agent's credentials (407 Proxy Authentication Required)"},
	} {
		p := newPath(t, config.Config{Coordinator: srv.URL, Proxy: tt.proxy, CAFile: ca})
		_, err := get(t, p, srv.URL)
		var refused *ProxyRefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "the proxy "+proxy.addr()+" ") || !strings.Contains(err.Error(), tt.want) || !Permanent(err) {
			t.Errorf("credentials %s: %v; want a permanent refusal naming the proxy and saying %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), "nope") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	p := newPath(t, config.Config{Coordinator: srv.URL, Proxy: "http://ana:s3cret@" + proxy.addr(), CAFile: ca})
	if p.ProxyFrom != FromConfig {
		t.Errorf("ProxyFrom %q, want %q", p.ProxyFrom, FromConfig)
	}
	if _, err := get(t, p, srv.URL); err != nil {
		t.Fatalf("through the proxy with its credentials: %v", err)
	}
	if n := proxy.tunnels.Load(); n != 1 {
		t.Errorf("%d tunnels, want 1", n)
	}
}

// A credentials file gives the proxy its user and password; one others
// can read is refused.
func TestProxyCredentialsFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	proxy := newConnectProxy(t, "ana", "pa:ss")
	file := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(file, []byte("ana:pa:ss\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Coordinator: srv.URL, Proxy: "http://" + proxy.addr(), ProxyCredentialsFile: file}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a credentials file others can read: %v, want a refusal naming chmod 600", err)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, newPath(t, cfg), srv.URL); err != nil || proxy.tunnels.Load() != 1 {
		t.Errorf("through the proxy with the file's credentials: %v, %d tunnels", err, proxy.tunnels.Load())
	}
}

// Without --proxy the environment's proxy is used, except for loopback
// (as Go reads it); then the path is direct, saying why.
func TestEnvironmentProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	t.Setenv("NO_PROXY", "direct.example")
	tests := []struct{ coordinator, proxy, from string }{
		{"https://ferry.example", "proxy.example:3128", FromEnv + " (HTTPS_PROXY)"},
		{"https://direct.example", "", "none: no --proxy in the config, no HTTPS_PROXY in the environment"},
		{"https://127.0.0.1:8443", "", "none: no --proxy in the config, no HTTPS_PROXY in the environment"},
	}
	for _, tt := range tests {
		p := newPath(t, config.Config{Coordinator: tt.coordinator})
		if p.ProxyAddr() != tt.proxy || !strings.HasPrefix(p.ProxyFrom, tt.from) {
			t.Errorf("%s: proxy %q from %q, want %q from %q", tt.coordinator, p.ProxyAddr(), p.ProxyFrom, tt.proxy, tt.from)
		}
	}
}

// A chain the agent does not trust names its issuer and says how to trust
// an inspecting proxy's CA; trusted through --ca-file, it goes through.
func TestUntrustedChainNamesIssuer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	proxy := newConnectProxy(t, "", "")
	p := newPath(t, config.Config{Coordinator: srv.URL, Proxy: "http://" + proxy.addr()})
	_, err := get(t, p, srv.URL)
	var untrusted *UntrustedError
	if !errors.As(err, &untrusted) || !Permanent(err) {
		t.Fatalf("untrusted certificate: %v, want an *UntrustedError", err)
	}
	issuer := srv.Certificate().Issuer.String()
	for _, want := range []string{"issued by \"" + issuer + "\"", "inspecting TLS", "the proxy " + proxy.addr(), "--ca-file", "system's trust store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCert(t, ca, srv)
	if _, err := get(t, newPath(t, config.Config{Coordinator: srv.URL, Proxy: "http://" + proxy.addr(), CAFile: ca}), srv.URL); err != nil {
		t.Errorf("with --ca-file: %v", err)
	}
}

// A proxy that cannot be reached is an error naming it, which may pass.
func TestProxyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newPath(t, config.Config{Coordinator: "http://127.0.0.1:1", Proxy: "http://" + addr})
	_, err = p.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	var unreachable *ProxyUnreachableError
	if !errors.As(err, &unreachable) || Permanent(err) || !strings.Contains(err.Error(), "the proxy "+addr+" (from the config (--proxy)) cannot be reached") {
		t.Errorf("proxy down: %v, want a passing *ProxyUnreachableError naming it", err)
	}
}

func writeCert(t *testing.T, path string, srv *httptest.Server) {
	t.Helper()
	if err := os.WriteFile(path, certPEM(srv), 0o600); err != nil {
		t.Fatal(err)
	}
}

func certPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
