package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// This file holds the rules of sync windows and pauses: which window is in
// force for a connection, whether it is open at a time and when it next
// opens, and what a queued dataset held by either says.

// MaxWindows bounds the spans of one sync window.
const MaxWindows = 28

// windowDays are the day names a window accepts, in time.Weekday order.
var windowDays = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// FieldError is input refused because of one field, which it names as a
// JSON path ("windows[0].start").
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// CheckSyncWindow refuses a window whose time zone is not one the
// coordinator knows, or with a span whose days or times are malformed,
// naming the field (*FieldError).
func CheckSyncWindow(w store.SyncWindow) error {
	if w.TimeZone == "" || w.TimeZone == "Local" {
		return &FieldError{"timeZone", `must be an IANA time zone name, such as "Europe/London" or "UTC"`}
	}
	if _, err := location(w.TimeZone); err != nil {
		return &FieldError{"timeZone", fmt.Sprintf("%q is not a known time zone; use an IANA name, such as \"Europe/London\"", w.TimeZone)}
	}
	if len(w.Windows) > MaxWindows {
		return &FieldError{"windows", fmt.Sprintf("must have at most %d entries", MaxWindows)}
	}
	for i, s := range w.Windows {
		at := fmt.Sprintf("windows[%d]", i)
		if len(s.Days) == 0 || len(s.Days) > 7 {
			return &FieldError{at + ".days", "must list 1 to 7 days of Mon, Tue, Wed, Thu, Fri, Sat, Sun"}
		}
		for j, d := range s.Days {
			if !slices.Contains(windowDays, d) {
				return &FieldError{fmt.Sprintf("%s.days[%d]", at, j), "must be one of Mon, Tue, Wed, Thu, Fri, Sat, Sun"}
			}
			if slices.Contains(s.Days[:j], d) {
				return &FieldError{fmt.Sprintf("%s.days[%d]", at, j), "repeats " + d}
			}
		}
		if _, err := clock(s.Start); err != nil {
			return &FieldError{at + ".start", err.Error()}
		}
		if _, err := clock(s.End); err != nil {
			return &FieldError{at + ".end", err.Error()}
		}
	}
	return nil
}

// locations caches the zones loaded (time.LoadLocation reads the zone's
// file each call), by name; only names that loaded are kept.
var locations sync.Map

// location is time.LoadLocation, cached.
func location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// clock parses "HH:MM" into minutes after midnight.
func clock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' || strings.ContainsAny(s, "+- ") {
		return 0, errors.New(`must be a time "HH:MM" on a 24-hour clock, such as "19:00"`)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 {
		return 0, errors.New(`must be a time "HH:MM" on a 24-hour clock, such as "19:00"`)
	}
	return h*60 + m, nil
}

// EffectiveWindow is the window in force for a connection, the narrowest
// set: the connection's own, else its company's, else the client's (nil
// for any of them when not set). It does not intersect them: a connection
// given its own window (an empty one included) runs in that window alone.
func EffectiveWindow(conn, company, client *store.SyncWindow) (*store.SyncWindow, store.WindowSource) {
	switch {
	case conn != nil:
		return conn, store.WindowOfConnection
	case company != nil:
		return company, store.WindowOfCompany
	case client != nil:
		return client, store.WindowOfClient
	}
	return nil, store.WindowNone
}

// NextOpening is when w (nil: none) lets a sync start at or after now:
// now itself when w is open now (no windows means always open), else the
// start of the next span. Spans are laid out on the calendar of w's zone,
// so a span from 19:00 starts at 19:00 local time on either side of a
// daylight-saving change; a start that falls in the hour a change skips is
// moved as time.Date moves it. A window that never opens (it cannot: every
// span has a day) would answer the zero time. An unknown zone is an error.
func NextOpening(w *store.SyncWindow, now time.Time) (time.Time, error) {
	if w == nil || len(w.Windows) == 0 {
		return now, nil
	}
	loc, err := location(w.TimeZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("sync window: %w", err)
	}
	local := now.In(loc)
	y, m, d := local.Date()
	var next time.Time
	// A span that started yesterday may still be open; one a week on is
	// the furthest a span can start.
	for off := -1; off <= 7; off++ {
		day := time.Date(y, m, d+off, 0, 0, 0, 0, loc)
		for _, s := range w.Windows {
			if !slices.Contains(s.Days, windowDays[day.Weekday()]) {
				continue
			}
			start, end := span(s, day, loc)
			if !now.Before(start) && now.Before(end) {
				return now, nil
			}
			if start.After(now) && (next.IsZero() || start.Before(next)) {
				next = start
			}
		}
	}
	return next, nil
}

// span is when s, starting on day (midnight in loc), starts and ends.
func span(s store.Window, day time.Time, loc *time.Location) (time.Time, time.Time) {
	sm, _ := clock(s.Start)
	em, _ := clock(s.End)
	y, m, d := day.Date()
	start := time.Date(y, m, d, sm/60, sm%60, 0, 0, loc)
	if em <= sm {
		d++ // crosses midnight (or is a whole day)
	}
	return start, time.Date(y, m, d, em/60, em%60, 0, 0, loc)
}

// Hold is why a connection's queued datasets are not offered at a time:
// its pause, or its window closed until Opens. The zero Hold holds
// nothing.
type Hold struct {
	PausedSince time.Time
	Opens       time.Time
	// Source is where the closed window comes from, TimeZone its zone.
	Source   store.WindowSource
	TimeZone string
}

// Held reports whether h holds the connection's datasets.
func (h Hold) Held() bool { return !h.PausedSince.IsZero() || !h.Opens.IsZero() }

// HoldAt is what g holds at now. An unknown zone (a window stored before
// the coordinator lost its zone data) holds nothing: better a sync out of
// hours than none.
func HoldAt(g store.SyncGate, now time.Time) Hold {
	if !g.PausedSince.IsZero() {
		return Hold{PausedSince: g.PausedSince}
	}
	opens, err := NextOpening(g.Window, now)
	if err != nil || !opens.After(now) {
		return Hold{}
	}
	return Hold{Opens: opens, Source: g.Source, TimeZone: g.Window.TimeZone}
}

// Description is what a Queued dataset held by h says in its
// statusDescription; empty when h holds nothing.
func (h Hold) Description() string {
	switch {
	case !h.PausedSince.IsZero():
		return "Waiting: the connection is paused (since " + h.PausedSince.UTC().Format(time.RFC3339) + "); it syncs when resumed"
	case !h.Opens.IsZero():
		at := h.Opens.UTC().Format(time.RFC3339)
		if loc, err := location(h.TimeZone); err == nil && h.TimeZone != "UTC" {
			at += " (" + h.Opens.In(loc).Format("Mon 15:04") + " " + h.TimeZone + ")"
		}
		return "Waiting for the " + string(h.Source) + "'s sync window, which opens at " + at
	}
	return ""
}
