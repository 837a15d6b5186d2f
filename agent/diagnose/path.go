package diagnose

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/agent/transport"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// CertWarnBefore is how long before its expiry a certificate is a Warn.
const CertWarnBefore = 14 * 24 * time.Hour

// Route is what the path checks look at.
type Route struct {
	// Coordinator is the coordinator's base URL.
	Coordinator string
	// Path is the way the agent reaches it (its proxy and TLS settings).
	Path *transport.Path
	// Credential is the agent's; the websocket step sends it to the
	// coordinator (and only there) to be let as far as the upgrade.
	Credential string
	// Live: the checks run inside a connected agent (remote diagnostics),
	// whose control channel already proves the websocket upgrade.
	Live bool
}

// Path checks the way to the coordinator step by step: DNS, TCP, the
// proxy, TLS, HTTP and the websocket upgrade. Each step starts where the
// one before ended; the first that fails is the last reported, and its
// message says what failed and the next thing to try.
func Path(ctx context.Context, r Route) []protocol.Check {
	u, err := url.Parse(r.Coordinator)
	if err != nil || u.Host == "" {
		return []protocol.Check{fail(protocol.CheckDNS, fmt.Sprintf("the coordinator URL %q is not a URL", r.Coordinator), "run ferry-agent link --coordinator URL with the coordinator's URL")}
	}
	addr := hostPort(u)
	steps := []func(context.Context, *url.URL, string, Route) protocol.Check{dnsStep, tcpStep, proxyStep, tlsStep, httpStep, websocketStep}
	var out []protocol.Check
	for _, step := range steps {
		if ctx.Err() != nil {
			break
		}
		c := step(ctx, u, addr, r)
		if c.Name == "" {
			continue // not a step of this path (TLS over plain http)
		}
		out = append(out, c)
		if c.Status == protocol.CheckFail {
			break
		}
	}
	return out
}

// fail is a failed step: what failed, then the next thing to try.
func fail(name, what, next string) protocol.Check {
	return protocol.Check{Name: name, Status: protocol.CheckFail, Message: what + "; next: " + next}
}

func pass(name, msg string) protocol.Check {
	return protocol.Check{Name: name, Status: protocol.CheckPass, Message: msg}
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// firstHop is the host:port the agent opens TCP to: the proxy's, or the
// coordinator's.
func firstHop(addr string, r Route) (string, string) {
	if p := r.Path.ProxyAddr(); p != "" {
		return p, "the proxy"
	}
	return addr, "the coordinator"
}

func dnsStep(ctx context.Context, _ *url.URL, addr string, r Route) protocol.Check {
	hop, who := firstHop(addr, r)
	host, _, _ := net.SplitHostPort(hop)
	if net.ParseIP(host) != nil {
		return pass(protocol.CheckDNS, fmt.Sprintf("%s is the address %s: nothing to look up", who, host))
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return fail(protocol.CheckDNS, fmt.Sprintf("%s's name %s does not resolve: %v", who, host, err),
			"check the name's spelling and this machine's DNS servers (nslookup "+host+")")
	}
	msg := fmt.Sprintf("%s's name %s resolves to %s", who, host, strings.Join(ips, ", "))
	if who == "the proxy" {
		msg += " (the proxy resolves the coordinator's)"
	}
	return pass(protocol.CheckDNS, msg)
}

func tcpStep(ctx context.Context, _ *url.URL, addr string, r Route) protocol.Check {
	hop, who := firstHop(addr, r)
	start := time.Now()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", hop)
	if err != nil {
		next := "ask IT whether a firewall blocks outbound TCP to " + hop
		if who == "the coordinator" {
			next += ", or whether connections must go through a proxy (ferry-agent link --proxy URL)"
		}
		return fail(protocol.CheckTCP, fmt.Sprintf("no TCP connection to %s at %s: %v", who, hop, err), next)
	}
	conn.Close()
	c := pass(protocol.CheckTCP, fmt.Sprintf("TCP connection to %s at %s opened in %s", who, hop, time.Since(start).Round(time.Millisecond)))
	c.Value = time.Since(start).Milliseconds()
	return c
}

func proxyStep(ctx context.Context, _ *url.URL, addr string, r Route) protocol.Check {
	if r.Path.Proxy == nil {
		return pass(protocol.CheckProxy, "direct, "+r.Path.ProxyFrom)
	}
	which := fmt.Sprintf("proxy %s, from %s, without credentials", r.Path.Proxy.Host, r.Path.ProxyFrom)
	if u := r.Path.Proxy.User; u != nil {
		which = fmt.Sprintf("proxy %s, from %s, as the user %q", r.Path.Proxy.Host, r.Path.ProxyFrom, u.Username())
	}
	conn, err := r.Path.DialContext(ctx, "tcp", addr)
	if err != nil {
		var refused *transport.ProxyRefusedError
		if errors.As(err, &refused) { // its message says what to do
			return protocol.Check{Name: protocol.CheckProxy, Status: protocol.CheckFail, Message: which + ": " + err.Error()}
		}
		return fail(protocol.CheckProxy, which+": "+err.Error(), "check the proxy's address, and that it runs, with IT")
	}
	conn.Close()
	return pass(protocol.CheckProxy, which+": it opened a tunnel to "+addr)
}

func tlsStep(ctx context.Context, u *url.URL, addr string, r Route) protocol.Check {
	if u.Scheme != "https" {
		return protocol.Check{}
	}
	conn, err := r.Path.DialTLSContext(ctx, "tcp", addr)
	if err != nil {
		var untrusted *transport.UntrustedError
		if errors.As(err, &untrusted) {
			return protocol.Check{Name: protocol.CheckTLS, Status: protocol.CheckFail, Message: err.Error()}
		}
		return fail(protocol.CheckTLS, fmt.Sprintf("no TLS with %s: %v", addr, err),
			"check that the coordinator URL's port serves https; a proxy or firewall may be breaking TLS")
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	c := pass(protocol.CheckTLS, fmt.Sprintf("certificate %s issued by %s, trusted, expires %s (in %d days)",
		leaf.Subject, leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24)))
	c.Value = int64(left / time.Second)
	if left < CertWarnBefore {
		c.Status = protocol.CheckWarn
		c.Message += "; next: tell the coordinator's operators it expires soon"
	}
	return c
}

func httpStep(ctx context.Context, _ *url.URL, _ string, r Route) protocol.Check {
	client := &http.Client{Transport: r.Path.HTTPTransport(), Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.Coordinator, "/")+"/healthz", nil)
	if err != nil {
		return fail(protocol.CheckHTTP, err.Error(), "check the coordinator URL")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(protocol.CheckHTTP, "GET /healthz: "+err.Error(), "ask IT whether a proxy or firewall blocks HTTPS to the coordinator")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(protocol.CheckHTTP, "GET /healthz answered "+resp.Status+" (a proxy may be answering in the coordinator's place: its Server header says "+fmt.Sprintf("%q", resp.Header.Get("Server"))+")",
			"check the coordinator URL, and ask IT whether the proxy lets requests to it through")
	}
	return pass(protocol.CheckHTTP, "GET /healthz answered "+resp.Status)
}

func websocketStep(ctx context.Context, u *url.URL, _ string, r Route) protocol.Check {
	if r.Live {
		return pass(protocol.CheckWebsocket, "this report came over the agent's websocket control channel")
	}
	target := strings.TrimRight(r.Coordinator, "/") + protocol.ConnectPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fail(protocol.CheckWebsocket, err.Error(), "check the coordinator URL")
	}
	// A real upgrade would become the agent's channel and close the
	// running service's: this one asks for a websocket version no
	// coordinator speaks, which it refuses before upgrading, saying
	// whether the upgrade itself reached it.
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString([]byte("ferry-diagnose-1")))
	req.Header.Set("Sec-WebSocket-Version", "0")
	if r.Credential != "" {
		req.Header.Set("Authorization", "Bearer "+r.Credential)
	}
	client := &http.Client{Transport: r.Path.HTTPTransport(), Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fail(protocol.CheckWebsocket, "upgrade request to "+target+": "+err.Error(), "ask IT whether a proxy or firewall blocks it")
	}
	defer resp.Body.Close()
	var perr protocol.Error
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&perr)
	switch {
	case resp.StatusCode == http.StatusBadRequest && perr.Code == protocol.CodeNotUpgrade:
		via := "something on the way"
		if p := r.Path.ProxyAddr(); p != "" {
			via = "the proxy " + p
		}
		return fail(protocol.CheckWebsocket, "the coordinator received the upgrade request without its websocket upgrade: "+via+" removed it",
			"ask IT to let websocket upgrades (HTTP Upgrade: websocket) through to the coordinator, or to exclude its host from inspection")
	case resp.StatusCode == http.StatusBadRequest && perr.Code != "":
		return pass(protocol.CheckWebsocket, "the websocket upgrade reaches the coordinator intact (it refused only the deliberately unsupported version this check asks for)")
	case resp.StatusCode == http.StatusBadRequest && resp.Header.Get("Sec-Websocket-Version") != "":
		return protocol.Check{Name: protocol.CheckWebsocket, Status: protocol.CheckWarn,
			Message: "not known: the coordinator refused the upgrade without saying whether it arrived whole (a coordinator older than this check); next: if the agent does not stay connected, ask IT to let websocket upgrades through"}
	case resp.StatusCode == http.StatusUnauthorized:
		return protocol.Check{Name: protocol.CheckWebsocket, Status: protocol.CheckWarn,
			Message: "not known: the coordinator refused the credential before looking at the upgrade; next: see the credential check"}
	}
	return fail(protocol.CheckWebsocket, "the upgrade request to "+target+" was answered "+resp.Status+" (Server "+fmt.Sprintf("%q", resp.Header.Get("Server"))+")",
		"ask IT whether a proxy answers in the coordinator's place or blocks websocket upgrades")
}
