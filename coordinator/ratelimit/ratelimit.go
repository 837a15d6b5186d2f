// Package ratelimit counts events per address in fixed windows: link
// attempts at the hub, failed sign-ins at the Portal.
package ratelimit

import (
	"net"
	"sync"
	"time"
)

// maxKeys is how many addresses a Window holds before it forgets those
// whose window has passed.
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

// Address is the host part of a remote address (host:port); the whole of it
// when it has no port.
func Address(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// Add records an event from remoteAddr's host at now and returns how many
// that host has in its current window, this one included.
func (w *Window) Add(remoteAddr string, now time.Time) int {
	host := Address(remoteAddr)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.counts) > maxKeys {
		for k, c := range w.counts {
			if now.Sub(c.start) >= w.length {
				delete(w.counts, k)
			}
		}
	}
	c := w.counts[host]
	if c == nil || now.Sub(c.start) >= w.length {
		c = &count{start: now}
		w.counts[host] = c
	}
	c.n++
	return c.n
}

// Count returns how many events remoteAddr's host has in its current window
// at now, without recording one.
func (w *Window) Count(remoteAddr string, now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts[Address(remoteAddr)]
	if c == nil || now.Sub(c.start) >= w.length {
		return 0
	}
	return c.n
}
