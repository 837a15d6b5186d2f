package ratelimit

import (
	"context"
	"log/slog"
	"time"
)

// Attempts counts attempts in the store (store.FailureStore's
// CountFailure).
type Attempts interface {
	// CountFailure adds one to key's window current at now and returns
	// the window's count, this one included, and when it ends. When key
	// has no window, or it ended at or before now, a new one starts at
	// now and ends at now+window.
	CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
}

// Limit refuses an address past limit attempts in a window: every attempt
// counts, refused ones too. The counts are in the store, so attempts on
// every replica sharing it count together. Safe for concurrent use.
type Limit struct {
	st     Attempts
	kind   string
	limit  int
	length time.Duration
	log    *slog.Logger
}

// NewLimit returns a limit of limit attempts of a kind (a word naming
// what is attempted: the kinds count apart) per address in each window of
// length, counted in st. A store that cannot count is logged to log and
// refuses nothing.
func NewLimit(st Attempts, kind string, limit int, length time.Duration, log *slog.Logger) *Limit {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limit{st: st, kind: kind, limit: limit, length: length, log: log}
}

// Allow counts an attempt from remoteAddr at now and reports whether it
// is within the limit; when it is not, how long until the window passes.
func (l *Limit) Allow(ctx context.Context, remoteAddr string, now time.Time) (time.Duration, bool) {
	n, until, err := l.st.CountFailure(ctx, l.kind+":"+Address(remoteAddr), now, l.length)
	if err != nil {
		l.log.Error("count an attempt", "kind", l.kind, "remote", Address(remoteAddr), "err", err)
		return 0, true
	}
	if n > l.limit {
		return until.Sub(now), false
	}
	return 0, true
}
