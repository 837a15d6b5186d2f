package hub

import (
	"time"
)

// Pauses and sync windows
//
// The work of a connection that is paused, or outside its sync window, is
// not offered (offerQueued reads the gate with each connection's queued
// work, in one read, and asks rules.HoldAt), and
// a claim of a dataset offered before the pause or before the window
// closed is refused by the store, which reads the gate in the claim's
// transaction (rules.Claim), so that the agent's waiting offers do not
// start it either; a dataset already running when either happens goes on
// to its end. Work held by a window is offered when the window opens: the
// write loop arms one timer (wake) for the earliest opening among its
// connections. A pause, a resume or a connection's own window changed is
// a ConnectionChange on the feed, and a company's or the client's window
// changed is Change.SyncWindows (changes.go): both kick the agents
// concerned, whichever replica made the change. The sweep is the safety
// net for a change the feed lost.

// armWake sets the write loop's timer to kick it at t, replacing any;
// zero t stops it. Write loop only.
func (c *agentConn) armWake(t time.Time) {
	if c.wake != nil {
		c.wake.Stop()
		c.wake = nil
	}
	if !t.IsZero() {
		c.wake = time.AfterFunc(max(t.Sub(c.h.now()), 0), c.kick)
	}
}

// earliest is the earlier of a and b, a zero time being none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
