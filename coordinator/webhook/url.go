package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrPrivate: the URL's host is, or resolves to, a loopback, private,
// link-local or otherwise internal address, and those are not allowed.
var ErrPrivate = errors.New("private or loopback address")

// CheckURL refuses a consumer URL that is not absolute http(s) with a host,
// carries credentials, or, unless allowPrivate, names a private or loopback
// address (or localhost). A hostname's addresses are checked again at every
// dial (see Control), since DNS may change.
func CheckURL(raw string, allowPrivate bool) error {
	if len(raw) > 2048 {
		return errors.New("url is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("url has no host")
	}
	if u.User != nil {
		return errors.New("url must not carry credentials")
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("url host %s: %w", host, ErrPrivate)
	}
	if ip, err := netip.ParseAddr(host); err == nil && blocked(ip) {
		return fmt.Errorf("url host %s: %w", host, ErrPrivate)
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT, 100.64.0.0/10.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// blocked reports whether ip is not a public unicast address.
func blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || cgnat.Contains(ip) || (ip.Is4() && ip.As4()[0] == 0)
}

// Control is a net.Dialer Control func that refuses to connect to a
// blocked address: it runs after name resolution, on the address actually
// dialled, so a hostname that resolves (or is re-bound) to an internal
// address is refused too.
func Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if blocked(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivate)
	}
	return nil
}
