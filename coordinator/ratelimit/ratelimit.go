// Package ratelimit counts events per address in fixed windows: link
// attempts at the hub, failed sign-ins at the Portal, failed
// authentications at the API and the hub.
package ratelimit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxKeys is how many addresses a Window holds. Past it, those whose
// window has passed are forgotten first, then arbitrary ones: memory stays
// bounded whatever the number of addresses, at the cost of letting a caller
// of very many addresses restart some counts.
const maxKeys = 10000

// Window counts events per address, in fixed windows of a given length.
// The zero value is not usable; call New. Safe for concurrent use.
type Window struct {
	length time.Duration
	mu     sync.Mutex
	counts map[string]*count
}

type count struct {
	start time.Time
	n     int
}

// New returns a Window counting in windows of length.
func New(length time.Duration) *Window {
	return &Window{length: length, counts: map[string]*count{}}
}

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

// Add records an event from remoteAddr's host at now and returns how many
// that host has in its current window, this one included.
func (w *Window) Add(remoteAddr string, now time.Time) int {
	host := Address(remoteAddr)
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts[host]
	if c == nil || now.Sub(c.start) >= w.length {
		if c == nil && len(w.counts) >= maxKeys {
			w.shrink(now)
		}
		c = &count{start: now}
		w.counts[host] = c
	}
	c.n++
	return c.n
}

// shrink forgets the hosts whose window has passed and, when that is not
// a tenth of the map, arbitrary others until it is: the next shrink is at
// least maxKeys/10 new hosts away, so its cost is spread over them.
func (w *Window) shrink(now time.Time) {
	for k, c := range w.counts {
		if now.Sub(c.start) >= w.length {
			delete(w.counts, k)
		}
	}
	for k := range w.counts {
		if len(w.counts) <= maxKeys-maxKeys/10 {
			break
		}
		delete(w.counts, k)
	}
}

// Count returns how many events remoteAddr's host has in its current window
// at now, without recording one.
func (w *Window) Count(remoteAddr string, now time.Time) int {
	n, _ := w.Current(remoteAddr, now)
	return n
}

// Current returns how many events remoteAddr's host has in its current
// window at now, and how long until that window passes; 0 and 0 when it
// has none.
func (w *Window) Current(remoteAddr string, now time.Time) (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts[Address(remoteAddr)]
	if c == nil || now.Sub(c.start) >= w.length {
		return 0, 0
	}
	return c.n, c.start.Add(w.length).Sub(now)
}
