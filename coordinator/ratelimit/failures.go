package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Counter keeps the counts of failures in the store, shared by the
// coordinator's replicas (store.FailureStore).
type Counter interface {
	// CountFailure adds one failure to key's window current at now and
	// returns the window's count, this one included, and when it ends.
	// When key has no window, or it ended at or before now, a new one
	// starts at now and ends at now+window.
	CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// Failures returns the count of key's window current at now and when
	// it ends; 0 and the zero time when there is none.
	Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error)
}

// Failures refuses an address that failed too often: past limit failures
// in a window, every attempt from it is refused until the window passes.
// Only failures count, so an address that succeeds is never held up by its
// successes, and one address's failures never hold up another. The counts
// are in the store: failures on every replica sharing it count together.
// A nil *Failures refuses nothing. Safe for concurrent use.
type Failures struct {
	st     Counter
	kind   string
	limit  int
	length time.Duration
	log    *slog.Logger
}

// NewFailures returns a limit of limit failures of a kind (a word naming
// what fails: the kinds count apart) per address in each window of length,
// counted in st; nil (no limit) when limit is not positive. A store that
// cannot count is logged to log and refuses nothing: the credential check
// that follows needs the store too.
func NewFailures(st Counter, kind string, limit int, length time.Duration, log *slog.Logger) *Failures {
	if limit <= 0 {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Failures{st: st, kind: kind, limit: limit, length: length, log: log}
}

// Refuse reports whether remoteAddr is refused at now. When it is, it
// sets w's Retry-After header and returns the refusal's message, for the
// caller to answer 429 in its own format. Callers ask before they check
// the credential, so a refused address learns nothing of it.
func (f *Failures) Refuse(ctx context.Context, w http.ResponseWriter, remoteAddr string, now time.Time) (string, bool) {
	wait, blocked := f.Blocked(ctx, remoteAddr, now)
	if !blocked {
		return "", false
	}
	after := RetryAfter(wait)
	w.Header().Set("Retry-After", after)
	return "too many failed authentications from this address; retry after " + after + " seconds", true
}

// Blocked reports whether remoteAddr is refused at now, and for how long.
func (f *Failures) Blocked(ctx context.Context, remoteAddr string, now time.Time) (time.Duration, bool) {
	if f == nil {
		return 0, false
	}
	n, until, err := f.st.Failures(ctx, f.key(remoteAddr), now)
	if err != nil {
		f.log.Error("read failed authentications", "remote", Address(remoteAddr), "err", err)
		return 0, false
	}
	return until.Sub(now), n >= f.limit
}

// Fail records a failed attempt from remoteAddr at now, and logs once,
// when it is the one that reaches the limit.
func (f *Failures) Fail(ctx context.Context, remoteAddr string, now time.Time) {
	if f == nil {
		return
	}
	n, _, err := f.st.CountFailure(ctx, f.key(remoteAddr), now, f.length)
	switch {
	case err != nil:
		f.log.Error("count a failed authentication", "remote", Address(remoteAddr), "err", err)
	case n == f.limit:
		f.log.Warn("failed authentications over the limit", "remote", Address(remoteAddr), "kind", f.kind)
	}
}

// key is the store's key of remoteAddr's failures of f's kind.
func (f *Failures) key(remoteAddr string) string { return f.kind + ":" + Address(remoteAddr) }

// RetryAfter is d as a Retry-After header's whole seconds, rounded up, at
// least 1.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
