package store

import (
	"slices"
	"time"
)

// SyncWindow is when the datasets of a connection may be offered to its
// agent: inside one of Windows, read in TimeZone (an IANA name, so that
// daylight-saving changes are the zone's). No windows: any time. A
// connection's own window overrides its company's, which overrides the
// client's (rules.EffectiveWindow); what is outside it waits Queued.
type SyncWindow struct {
	TimeZone string   `json:"timeZone"`
	Windows  []Window `json:"windows"`
}

// Window is one span of a SyncWindow: from Start on each of Days to End,
// the same day or, when End is not after Start, the next day (a window may
// cross midnight; Start equal to End is 24 hours). Times are "HH:MM" on a
// 24-hour clock; days are "Mon" to "Sun", each the day the span starts.
type Window struct {
	Days  []string `json:"days"`
	Start string   `json:"start"`
	End   string   `json:"end"`
}

// WindowSource names where the window in force for a connection comes
// from.
type WindowSource string

// The window sources, narrowest first.
const (
	WindowOfConnection WindowSource = "connection"
	WindowOfCompany    WindowSource = "company"
	WindowOfClient     WindowSource = "client"
	// WindowNone: none is set anywhere; syncs run at any time.
	WindowNone WindowSource = "none"
)

// SyncGate is what decides whether a connection's queued datasets may be
// offered now: its pause and the window in force for it, read together
// (SyncGateStore.SyncGate).
type SyncGate struct {
	ConnectionID string
	CompanyID    string
	// PausedSince is when the client paused the connection; zero when it
	// is not paused.
	PausedSince time.Time
	// Window is the window in force (nil for none) and Source where it
	// comes from.
	Window *SyncWindow
	Source WindowSource
}

// SameWindow reports whether a and b (nil for none) are the same window.
func SameWindow(a, b *SyncWindow) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.TimeZone != b.TimeZone || len(a.Windows) != len(b.Windows) {
		return false
	}
	for i, w := range a.Windows {
		v := b.Windows[i]
		if w.Start != v.Start || w.End != v.End || !slices.Equal(w.Days, v.Days) {
			return false
		}
	}
	return true
}
