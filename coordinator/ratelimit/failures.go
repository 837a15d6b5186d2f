package ratelimit

import (
	"math"
	"strconv"
	"time"
)

// Failures refuses an address that failed too often: past limit failures
// in a window, every attempt from it is refused until the window passes.
// Only failures count, so an address that succeeds is never held up by its
// successes, and one address's failures never hold up another. A nil
// *Failures refuses nothing. Safe for concurrent use.
type Failures struct {
	w     *Window
	limit int
}

// NewFailures returns a limit of limit failures per address in each window
// of length; nil (no limit) when limit is not positive.
func NewFailures(limit int, length time.Duration) *Failures {
	if limit <= 0 {
		return nil
	}
	return &Failures{w: New(length), limit: limit}
}

// Blocked reports whether remoteAddr is refused at now, and for how long.
// Callers ask before they check the credential, so a refused address
// learns nothing of it.
func (f *Failures) Blocked(remoteAddr string, now time.Time) (time.Duration, bool) {
	if f == nil {
		return 0, false
	}
	n, left := f.w.Current(remoteAddr, now)
	return left, n >= f.limit
}

// Fail records a failed attempt from remoteAddr at now; true when it is
// the one that reached the limit (for a single log line).
func (f *Failures) Fail(remoteAddr string, now time.Time) bool {
	if f == nil {
		return false
	}
	return f.w.Add(remoteAddr, now) == f.limit
}

// RetryAfter is d as a Retry-After header's whole seconds, rounded up, at
// least 1.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
