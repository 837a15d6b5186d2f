// Package ratelimit limits what one address may do per window of time:
// link attempts at the hub, code requests at the link page, failed
// sign-ins at the Portal, failed authentications at the API and the hub.
// The counts are kept in the store (fixed windows per key), so every
// replica sharing it counts together.
package ratelimit

import (
	"net"
	"net/netip"
)

// Address is the part of a remote address (host:port) that events are
// counted by: the host, and for an IPv6 host its /64 (one subscriber's
// network: a host commonly holds a whole /64). The whole of remoteAddr when
// it is not host:port.
func Address(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.IsLoopback() {
		return host
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}
