// Package lograte keeps a log line that a peer can trigger at will (a
// refused connection, a message the agent did not ask for) from flooding
// the log: each kind is let through at most once a minute, with a count
// of the calls since the last one let through.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets each kind of line through at most once a minute. The zero
// Limiter is ready; it is safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	next  time.Time // when the next line may go
	calls int       // since the last line went, this one included
}

// Allow reports whether a line of kind may be logged now, and how many
// times Allow was called for kind since the last line went, this call
// included: 1 for the first, or when none was held back.
func (l *Limiter) Allow(kindName string) (calls int, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = map[string]*kind{}
	}
	k := l.kinds[kindName]
	if k == nil {
		k = &kind{}
		l.kinds[kindName] = k
	}
	k.calls++
	if now.Before(k.next) {
		return k.calls, false
	}
	calls, k.calls, k.next = k.calls, 0, now.Add(time.Minute)
	return calls, true
}
