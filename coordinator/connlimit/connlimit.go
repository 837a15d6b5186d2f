// Package connlimit bounds the coordinator's connections: in all (each
// holds an open file), per source address, and with room kept for the
// agents' control channels, so that one client's connections, idle or
// not, cannot shut the others out.
//
// A Listener counts three kinds of connection. Ordinary ones serve HTTP
// requests (the API, the Portal, uploads, link calls) and count against
// the per-address cap and against Max less Reserve. A connection accepted
// when the ordinary ones are at their cap is reserved: it may serve one
// request, to become an agent's control channel (Reserved says so to the
// handler, which refuses anything else). A control channel (Promote, once
// the hub has authenticated and upgraded it) leaves the ordinary count and
// the per-address cap; the hub keeps one per agent. Idle keep-alive
// connections are the first to go: when a new connection needs room, the
// longest idle ordinary one (of its address, or of all) is closed, as
// nginx closes its reusable connections when it runs out.
package connlimit

import (
	"container/list"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/shared/lograte"
)

// Limits are a Listener's bounds; 0 (or less) means no bound.
type Limits struct {
	// Max is the most connections of every kind at once. At Max, with no
	// idle connection to close, the listener stops accepting: new
	// connections wait in the kernel's backlog.
	Max int
	// Reserve is how many of Max ordinary connections may not take: room
	// for connections that become agents' control channels.
	Reserve int
	// PerAddress is the most ordinary (and reserved) connections from one
	// source address (ratelimit.Address: an IPv6 /64 counts as one). A
	// connection over it is closed at once, unless an idle one of that
	// address can be closed instead.
	PerAddress int
}

type kind int

const (
	ordinary kind = iota
	reserved
	control
)

// Listener is a net.Listener that enforces Limits. Its ConnState and
// ConnContext must be the http.Server's.
type Listener struct {
	net.Listener
	lim Limits
	log *slog.Logger

	mu       sync.Mutex
	freed    *sync.Cond // a slot freed, or an ordinary connection went idle
	closed   bool
	total    int // connections of every kind
	ordinary int
	control  int
	addrs    map[string]*addr
	idle     list.List       // idle ordinary connections, longest idle first
	refused  lograte.Limiter // logs of connections over the per-address cap
}

type addr struct {
	n    int       // ordinary and reserved connections
	idle list.List // its idle ones, longest idle first
}

// Conn is a connection the Listener accepted.
type Conn struct {
	net.Conn
	l        *Listener
	key      string
	kind     kind
	idleAll  *list.Element // in l.idle while idle
	idleAddr *list.Element // in its addr's idle list while idle
	released bool
}

// New wraps ln.
func New(ln net.Listener, lim Limits, log *slog.Logger) *Listener {
	l := &Listener{Listener: ln, lim: lim, log: log, addrs: map[string]*addr{}}
	l.freed = sync.NewCond(&l.mu)
	return l
}

// Accept waits for a slot (closing the longest idle connection when there
// is none), accepts, and admits the connection under the per-address cap;
// one over it is closed and the next accepted.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		if err := l.acquire(); err != nil {
			return nil, err
		}
		nc, err := l.Listener.Accept()
		if err != nil {
			l.mu.Lock()
			l.total--
			l.freed.Broadcast()
			l.mu.Unlock()
			return nil, err
		}
		if c := l.admit(nc); c != nil {
			return c, nil
		}
		_ = nc.Close()
	}
}

// acquire takes a slot of Max, closing the longest idle ordinary
// connection when all are taken, or waiting until one frees.
func (l *Listener) acquire() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		switch {
		case l.closed:
			return net.ErrClosed
		case l.lim.Max <= 0 || l.total < l.lim.Max:
			l.total++
			return nil
		case l.idle.Len() > 0:
			l.evict(l.idle.Front().Value.(*Conn))
		default:
			l.freed.Wait()
		}
	}
}

// admit counts an accepted connection under the per-address cap and the
// ordinary connections' share of Max; nil when it is refused.
func (l *Listener) admit(nc net.Conn) *Conn {
	c := &Conn{Conn: nc, l: l, key: ratelimit.Address(nc.RemoteAddr().String())}
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.addrs[c.key]; a != nil && l.lim.PerAddress > 0 && a.n >= l.lim.PerAddress {
		if a.idle.Len() == 0 {
			l.total--
			l.freed.Broadcast()
			l.refuse(c.key)
			return nil
		}
		l.evict(a.idle.Front().Value.(*Conn))
	}
	if l.lim.Max > 0 && l.ordinary >= l.lim.Max-l.lim.Reserve {
		if l.idle.Len() > 0 {
			l.evict(l.idle.Front().Value.(*Conn))
		} else {
			c.kind = reserved
		}
	}
	if c.kind == ordinary {
		l.ordinary++
	}
	// Looked up after the evictions, which may have dropped the entry.
	a := l.addrs[c.key]
	if a == nil {
		a = &addr{}
		l.addrs[c.key] = a
	}
	a.n++
	return c
}

// refuse notes a connection refused over the per-address cap, logging at
// most once a minute.
func (l *Listener) refuse(key string) {
	if n, ok := l.refused.Allow(""); ok {
		l.log.Warn("connections refused: over the limit per address", "remote", key, "refused", n)
	}
}

// evict closes an idle connection to make room; its slot is free at once.
func (l *Listener) evict(c *Conn) {
	l.release(c)
	_ = c.Conn.Close()
}

// release gives c's slot back; it is counted once however often it is
// called (Close, StateClosed, evict).
func (l *Listener) release(c *Conn) {
	if c.released {
		return
	}
	c.released = true
	l.total--
	switch c.kind {
	case ordinary:
		l.ordinary--
	case control:
		l.control--
	}
	if c.kind != control {
		l.unidle(c)
		if a := l.addrs[c.key]; a != nil {
			if a.n--; a.n <= 0 {
				delete(l.addrs, c.key)
			}
		}
	}
	l.freed.Broadcast()
}

func (l *Listener) unidle(c *Conn) {
	if c.idleAll != nil {
		l.idle.Remove(c.idleAll)
		c.idleAll = nil
	}
	if c.idleAddr != nil {
		if a := l.addrs[c.key]; a != nil {
			a.idle.Remove(c.idleAddr)
		}
		c.idleAddr = nil
	}
}

// Close stops accepting; an Accept waiting for a slot returns.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	c.l.mu.Lock()
	c.l.release(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// unwrap finds the Conn under what the http.Server hands its hooks (a
// *tls.Conn over it when serving TLS).
func unwrap(nc net.Conn) *Conn {
	for nc != nil {
		if c, ok := nc.(*Conn); ok {
			return c
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// ConnState is the http.Server's ConnState hook: it keeps the idle
// connections, those that may be closed to make room.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := unwrap(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateIdle:
		if c.released || c.kind != ordinary || c.idleAll != nil {
			return
		}
		c.idleAll = l.idle.PushBack(c)
		if a := l.addrs[c.key]; a != nil {
			c.idleAddr = a.idle.PushBack(c)
		}
		l.freed.Broadcast()
	case http.StateActive, http.StateHijacked:
		l.unidle(c)
	case http.StateClosed:
		l.release(c)
	}
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext hook: it makes the
// connection known to Promote and Reserved.
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := unwrap(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Promote marks the connection of a request's context as a control
// channel: it leaves the ordinary connections and its address's count.
// A request not served by a Listener is left alone.
func Promote(ctx context.Context) {
	c, _ := ctx.Value(connKey{}).(*Conn)
	if c == nil {
		return
	}
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released || c.kind == control {
		return
	}
	if c.kind == ordinary {
		l.ordinary--
	}
	l.unidle(c)
	if a := l.addrs[c.key]; a != nil {
		if a.n--; a.n <= 0 {
			delete(l.addrs, c.key)
		}
	}
	c.kind = control
	l.control++
	l.freed.Broadcast()
}

// Reserved reports whether the connection of a request's context was
// accepted into the reserve: it may only become a control channel, and
// is closed after its one request.
func Reserved(ctx context.Context) bool {
	c, _ := ctx.Value(connKey{}).(*Conn)
	if c == nil {
		return false
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.kind == reserved
}

// Counts are a Listener's connections by kind, and how many of the
// ordinary ones are idle (those that may be closed to make room).
type Counts struct {
	Ordinary, Reserved, Control, Idle int
}

// Counts returns the connections open now, by kind.
func (l *Listener) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Counts{Ordinary: l.ordinary, Reserved: l.total - l.ordinary - l.control, Control: l.control, Idle: l.idle.Len()}
}
