// Package transport is how the agent reaches its coordinator: the HTTP
// proxy it goes through (the config's, else the environment's, else on
// Windows the machine's WinHTTP setting), the certificates it trusts (the
// system's and the config's CA file), and errors that say what a proxy's
// refusal or an untrusted certificate means and what to do next.
//
// Every connection, the control channel's websocket and the uploads' HTTP
// alike, is opened by a Path: through the proxy it is a CONNECT tunnel,
// so the proxy never sees the agent's credential unless it inspects TLS.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/agent/config"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// How a Path found its proxy.
const (
	FromConfig  = "the config (--proxy)"
	FromEnv     = "the environment"
	FromWinHTTP = "the machine's WinHTTP setting"
)

// connectTimeout bounds the proxy's answer to CONNECT.
const connectTimeout = 30 * time.Second

// Path is the way to one coordinator: direct or through a proxy, with the
// TLS settings the agent trusts.
type Path struct {
	// TLS trusts the system's roots and the config's CA file.
	TLS *tls.Config
	// Proxy is the proxy in use, with its credentials; nil: direct.
	Proxy *url.URL
	// ProxyFrom says how Proxy was found (FromConfig, FromEnv with the
	// variable's name, FromWinHTTP), or why there is none.
	ProxyFrom string
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

// New finds the path to cfg's coordinator. netDial opens TCP connections
// (nil: a net.Dialer's).
func New(cfg config.Config, netDial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Path, error) {
	tc, err := TLSConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	if netDial == nil {
		netDial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	p := &Path{TLS: tc, dial: netDial}
	if err := p.findProxy(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// findProxy sets the proxy: the config's, even for a loopback coordinator;
// else the environment's as Go reads it (NO_PROXY, and never for
// loopback); else the system's (WinHTTP on Windows). A credentials file
// gives the proxy its user and password when its URL holds none.
func (p *Path) findProxy(cfg config.Config) error {
	coord, err := url.Parse(cfg.Coordinator)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	switch {
	case cfg.Proxy != "":
		if err := config.CheckProxy(cfg.Proxy); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		p.Proxy, _ = url.Parse(cfg.Proxy)
		p.ProxyFrom = FromConfig
	default:
		u, err := http.ProxyFromEnvironment(&http.Request{URL: coord})
		if err != nil {
			return fmt.Errorf("proxy from the environment: %w", err)
		}
		if u != nil {
			p.Proxy, p.ProxyFrom = u, FromEnv+" ("+envName(coord.Scheme)+")"
			break
		}
		if p.Proxy, p.ProxyFrom = systemProxy(coord); p.Proxy == nil {
			p.ProxyFrom = "none: no --proxy in the config, no " + envName(coord.Scheme) + " in the environment" + noSystemProxy
		}
	}
	if p.Proxy != nil && p.Proxy.User == nil && cfg.ProxyCredentialsFile != "" {
		raw, err := config.ReadSecret(cfg.ProxyCredentialsFile)
		if err != nil {
			return fmt.Errorf("proxy credentials: %w", err)
		}
		user, pass, ok := strings.Cut(strings.TrimSpace(string(raw)), ":")
		if !ok || user == "" {
			return fmt.Errorf("proxy credentials: %s must hold user:password on one line", cfg.ProxyCredentialsFile)
		}
		p.Proxy.User = url.UserPassword(user, pass)
	}
	return nil
}

// envName is the variable Go reads the proxy of a scheme from.
func envName(scheme string) string {
	if scheme == "https" || scheme == "wss" {
		return "HTTPS_PROXY"
	}
	return "HTTP_PROXY"
}

// ProxyAddr is the proxy's host:port, "" when direct.
func (p *Path) ProxyAddr() string {
	if p.Proxy == nil {
		return ""
	}
	return p.Proxy.Host
}

// DialContext opens a TCP connection to addr: directly, or through the
// proxy as a CONNECT tunnel.
func (p *Path) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.Proxy == nil {
		return p.dial(ctx, network, addr)
	}
	conn, err := p.dial(ctx, "tcp", p.Proxy.Host)
	if err != nil {
		return nil, &ProxyUnreachableError{Proxy: p.Proxy.Host, From: p.ProxyFrom, Err: err}
	}
	if err := p.connect(ctx, conn, addr); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// connect asks the proxy on conn for a tunnel to addr.
func (p *Path) connect(ctx context.Context, conn net.Conn, addr string) error {
	deadline := time.Now().Add(connectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if u := p.Proxy.User; u != nil {
		pass, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)) + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		return &ProxyUnreachableError{Proxy: p.Proxy.Host, From: p.ProxyFrom, Err: err}
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ProxyUnreachableError{Proxy: p.Proxy.Host, From: p.ProxyFrom, Err: fmt.Errorf("read its answer to CONNECT: %w", err)}
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		// The tunnel's bytes start after the answer, and a proxy sends
		// none before the client's (TLS's hello, or an HTTP request).
		if br.Buffered() > 0 {
			return &ProxyUnreachableError{Proxy: p.Proxy.Host, From: p.ProxyFrom, Err: fmt.Errorf("it sent data before the tunnel was used")}
		}
		return nil
	}
	return &ProxyRefusedError{Proxy: p.Proxy.Host, Target: addr, Status: resp.StatusCode, StatusText: resp.Status,
		HadCredentials: p.Proxy.User != nil}
}

// DialTLSContext opens a TLS connection to addr through DialContext and
// verifies the coordinator's certificate; a chain the agent does not trust
// is an *UntrustedError.
func (p *Path) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := p.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc := p.TLS.Clone()
	tc.ServerName = host
	tc.NextProtos = []string{"http/1.1"}
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, p.explain(addr, err)
	}
	return tconn, nil
}

// HTTPTransport is an http.Transport whose connections take this path.
func (p *Path) HTTPTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext, t.DialTLSContext = p.DialContext, p.DialTLSContext
	t.TLSClientConfig = p.TLS.Clone()
	t.ForceAttemptHTTP2 = false
	// Kept open between pages: two datasets' pages in flight, each a
	// connection (HTTP/1.1), not a TLS handshake each.
	t.MaxIdleConnsPerHost = 2 * protocol.PagesInFlight
	return t
}

// TLSConfig trusts the system's roots plus the certificates of caFile
// (PEM), when given.
func TLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
