package hub

import (
	"net"
	"sync"
	"time"
)

// rateLimiter allows n events per window per key (an address), in fixed
// windows; it forgets keys whose window has passed.
type rateLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	counts map[string]*windowCount
}

type windowCount struct {
	start time.Time
	n     int
}

func newRateLimiter(n int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{n: n, window: window, now: now, counts: map[string]*windowCount{}}
}

// allow records an event for the address and reports whether it is within
// the limit.
func (l *rateLimiter) allow(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.counts) > 10000 {
		for k, c := range l.counts {
			if now.Sub(c.start) >= l.window {
				delete(l.counts, k)
			}
		}
	}
	c := l.counts[host]
	if c == nil || now.Sub(c.start) >= l.window {
		c = &windowCount{start: now}
		l.counts[host] = c
	}
	c.n++
	return c.n <= l.n
}
