package transport

import (
	"net"
	"net/url"
	"strings"
)

// WinHTTP's proxy setting is read on Windows only (proxy_windows.go); its
// two lists are parsed here, where every platform's tests run.

// pickProxy reads WinHTTP's proxy list: "host:port", or entries such as
// "http=host:port;https=host:port", the one for scheme first.
func pickProxy(list, scheme string) *url.URL {
	var plain string
	for _, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ';' || r == ' ' }) {
		k, v, ok := strings.Cut(e, "=")
		switch {
		case !ok && plain == "":
			plain = e
		case ok && strings.EqualFold(k, scheme):
			plain = v
		}
	}
	if plain == "" {
		return nil
	}
	if !strings.Contains(plain, "://") {
		plain = "http://" + plain
	}
	u, err := url.Parse(plain)
	if err != nil || u.Host == "" {
		return nil
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	return u
}

// bypassed reports whether host is in WinHTTP's bypass list: "<local>"
// (a name without a dot, or loopback), a name, or a *.suffix pattern.
func bypassed(host, list string) bool {
	for _, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ';' || r == ' ' }) {
		e = strings.ToLower(e)
		switch {
		case e == "<local>":
			ip := net.ParseIP(host)
			if !strings.Contains(host, ".") || (ip != nil && ip.IsLoopback()) {
				return true
			}
		case strings.HasPrefix(e, "*"):
			if strings.HasSuffix(strings.ToLower(host), e[1:]) {
				return true
			}
		case e == strings.ToLower(host):
			return true
		}
	}
	return false
}
