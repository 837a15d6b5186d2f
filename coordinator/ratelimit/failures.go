package ratelimit

import (
	"log/slog"
	"math"
	"net/http"
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

// Refuse reports whether remoteAddr is refused at now. When it is, it
// sets w's Retry-After header and returns the refusal's message, for the
// caller to answer 429 in its own format. Callers ask before they check
// the credential, so a refused address learns nothing of it.
func (f *Failures) Refuse(w http.ResponseWriter, remoteAddr string, now time.Time) (string, bool) {
	wait, blocked := f.blocked(remoteAddr, now)
	if !blocked {
		return "", false
	}
	after := retryAfter(wait)
	w.Header().Set("Retry-After", after)
	return "too many failed authentications from this address; retry after " + after + " seconds", true
}

// blocked reports whether remoteAddr is refused at now, and for how long.
func (f *Failures) blocked(remoteAddr string, now time.Time) (time.Duration, bool) {
	if f == nil {
		return 0, false
	}
	n, left := f.w.Current(remoteAddr, now)
	return left, n >= f.limit
}

// Fail records a failed attempt from remoteAddr at now, and logs to log
// once, when it is the one that reaches the limit.
func (f *Failures) Fail(log *slog.Logger, remoteAddr string, now time.Time) {
	if f != nil && f.w.Add(remoteAddr, now) == f.limit {
		log.Warn("failed authentications over the limit", "remote", Address(remoteAddr))
	}
}

// retryAfter is d as a Retry-After header's whole seconds, rounded up, at
// least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
