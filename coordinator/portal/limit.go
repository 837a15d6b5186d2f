package portal

import (
	"net"
	"sync"
	"time"
)

// failures counts failed sign-ins per address in fixed windows, so that
// guessing a weak key (a FERRY_ADMIN_KEY chosen by hand) through the form
// is slow. Only failures count: a good key is never held up by them.
type failures struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	by     map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	n     int
}

func newFailures(max int, window time.Duration) *failures {
	return &failures{max: max, window: window, by: map[string]*failureWindow{}}
}

func addressOf(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// blocked reports whether the address has used up its failures.
func (f *failures) blocked(remoteAddr string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.by[addressOf(remoteAddr)]
	return w != nil && now.Sub(w.start) < f.window && w.n >= f.max
}

// fail records a failed sign-in from the address.
func (f *failures) fail(remoteAddr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.by) > 10000 {
		for k, w := range f.by {
			if now.Sub(w.start) >= f.window {
				delete(f.by, k)
			}
		}
	}
	addr := addressOf(remoteAddr)
	w := f.by[addr]
	if w == nil || now.Sub(w.start) >= f.window {
		w = &failureWindow{start: now}
		f.by[addr] = w
	}
	w.n++
}
