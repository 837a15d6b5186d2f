// Package rules computes what a change of the coordinator's state means,
// over plain values: the next status of a dataset and its timeline entry,
// the webhook events a change fires and the consumers they go to, when a
// schedule is next due, how the counts move, what withdrawing a connection
// does, and which input is well formed. A store backend loads the values,
// calls these functions, and persists what they return in one transaction;
// it decides no rule of its own, so every backend applies the same ones.
//
// The package imports no storage library: only the standard library,
// shared/ and the plain types of coordinator/store.
package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// CheckID refuses an id of a new object that store.CheckID refuses, naming
// its kind.
func CheckID(kind, id string) error {
	if err := store.CheckID(id); err != nil {
		return fmt.Errorf("%s %w", kind, err)
	}
	return nil
}

// CheckUploadSlot refuses a take of an upload slot that could hold none:
// a malformed agent id, a limit below one or a ttl not positive.
func CheckUploadSlot(agentID string, limit int, ttl time.Duration) error {
	if err := CheckID("agent", agentID); err != nil {
		return err
	}
	if limit < 1 || ttl <= 0 {
		return fmt.Errorf("upload slots: limit %d and ttl %s must be positive", limit, ttl)
	}
	return nil
}

// LookupIDs checks the ids that name objects to be found, in kind, id
// pairs: an id store.CheckID refuses names no object, so it is
// store.ErrNotFound, the same answer as a well-formed id that is not stored.
func LookupIDs(kindsAndIDs ...string) error {
	for i := 0; i+1 < len(kindsAndIDs); i += 2 {
		if err := store.CheckID(kindsAndIDs[i+1]); err != nil {
			return fmt.Errorf("%s: %w (%w)", kindsAndIDs[i], store.ErrNotFound, err)
		}
	}
	return nil
}

// maxHashLen is the longest hash (of a credential, a key or a link code)
// the store keeps.
const maxHashLen = 128

// CheckHash refuses an empty or oversized hash.
func CheckHash(kind string, h []byte) error {
	if len(h) == 0 || len(h) > maxHashLen {
		return fmt.Errorf("%s hash must be 1 to %d bytes, got %d", kind, maxHashLen, len(h))
	}
	return nil
}

// MergeRoundTrip is what a ring's slot holds after the minute sample s
// is put in it, when it held old (had says whether it held anything):
// the sample alone when the slot held an earlier minute or hour; in the
// hourly ring, the larger round trip of the same hour; in the minute
// ring, the later sample of the same minute.
func MergeRoundTrip(res time.Duration, old store.RoundTrip, had bool, s store.RoundTrip) store.RoundTrip {
	_, start := store.RoundTripSlot(res, s.At)
	out := store.RoundTrip{AgentID: s.AgentID, Resolution: res, At: start, Millis: s.Millis}
	if had && res == store.RoundTripHour && old.At.Equal(start) {
		out.Millis = max(out.Millis, old.Millis)
	}
	return out
}

// RoundTripsBetween returns the samples of a ring read in slot order that
// were taken at or after from and before to, oldest first.
func RoundTripsBetween(ring []store.RoundTrip, from, to time.Time) []store.RoundTrip {
	out := []store.RoundTrip{}
	for _, s := range ring {
		if !s.At.Before(from) && s.At.Before(to) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.RoundTrip) int { return a.At.Compare(b.At) })
	return out
}
