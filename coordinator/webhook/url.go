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

// ErrPrivate: the URL's host is, or resolves to, an address that is not
// globally reachable (loopback, private, link-local, documentation,
// multicast, any special-purpose range), and those are not allowed.
var ErrPrivate = errors.New("private or loopback address")

// CheckURL refuses a consumer URL that is not absolute http(s) with a host,
// carries credentials, or, unless allowPrivate, names an address Public
// refuses (or localhost, or a host a resolver would read as an IPv4
// address). A hostname's addresses are checked again at every dial (see
// Control), since DNS may change.
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
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil && !Public(ip):
		return fmt.Errorf("url host %s: %w", host, ErrPrivate)
	case err != nil && endsInNumber(host):
		// 127.1, 0x7f000001, 2130706433: not a name, and a resolver may
		// read it as an IPv4 address.
		return fmt.Errorf("url host %s must be a name or a dotted-decimal IPv4 address", host)
	}
	return nil
}

// endsInNumber reports whether a host's last label is a number (decimal,
// or hexadecimal with 0x), which the URL standard and inet_aton read as
// (part of) an IPv4 address: no top-level domain is a number.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// Special-purpose ranges that are not globally reachable, from IANA's
// IPv4 and IPv6 Special-Purpose Address Registries, and multicast. Where
// the registry makes an exception within a range (192.0.0.9/32,
// 2001:3::/32 and others: anycast services), the whole range is refused
// all the same: no webhook consumer lives there.
var (
	special4 = prefixes(
		"0.0.0.0/8",          // "this network"
		"10.0.0.0/8",         // private
		"100.64.0.0/10",      // shared address space (carrier-grade NAT)
		"127.0.0.0/8",        // loopback
		"169.254.0.0/16",     // link-local, cloud metadata
		"172.16.0.0/12",      // private
		"192.0.0.0/24",       // IETF protocol assignments
		"192.0.2.0/24",       // documentation (TEST-NET-1)
		"192.88.99.0/24",     // 6to4 relay anycast (deprecated)
		"192.168.0.0/16",     // private
		"198.18.0.0/15",      // benchmarking
		"198.51.100.0/24",    // documentation (TEST-NET-2)
		"203.0.113.0/24",     // documentation (TEST-NET-3)
		"224.0.0.0/4",        // multicast
		"240.0.0.0/4",        // reserved
		"255.255.255.255/32", // limited broadcast
	)
	// global6 is the global unicast space; every IPv6 address outside it
	// is refused: ::/128, ::1, IPv4-mapped ::ffff:0:0/96, IPv4-compatible,
	// 64:ff9b:1::/48 local-use NAT64, 100::/64 discard, fc00::/7 unique
	// local, fe80::/10 link-local, ff00::/8 multicast, 5f00::/16 SRv6 and
	// every unassigned range; except the well-known NAT64 prefix, judged by
	// the IPv4 address it embeds.
	global6  = netip.MustParsePrefix("2000::/3")
	special6 = prefixes(
		"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation
	)
	nat64  = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64: IPv4 in the last 32 bits
	sixTo4 = netip.MustParsePrefix("2002::/16")    // 6to4: IPv4 in bits 16-47
)

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// Public reports whether ip is a globally reachable unicast address that
// a webhook may be delivered to: outside every special-purpose range that
// is not globally reachable, and, for a NAT64 or 6to4 address, with an
// embedded IPv4 address that is public itself. CheckURL and the dialer's
// Control both judge by it.
func Public(ip netip.Addr) bool {
	ip = ip.WithZone("")
	switch {
	case !ip.IsValid():
		return false
	case ip.Is4():
		return !inAny(special4, ip)
	case nat64.Contains(ip):
		b := ip.As16()
		return Public(netip.AddrFrom4([4]byte(b[12:16])))
	case !global6.Contains(ip) || inAny(special6, ip):
		return false
	case sixTo4.Contains(ip):
		b := ip.As16()
		return Public(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
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
	if !Public(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivate)
	}
	return nil
}
