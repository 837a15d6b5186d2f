package rules

import (
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// This file holds the rules of sync settings and of the schedule they make:
// which settings are in force, and when a (connection, data type) pair is
// next due. A backend keeps the entries in an index by due time.

// MergeSettings is base with each type given in over replaced, in
// dataset.DataTypes order: every supported type always has a setting (the
// default one when neither gives it).
func MergeSettings(base, over []store.SyncSetting) []store.SyncSetting {
	by := map[dataset.DataType]store.SyncSetting{}
	for _, s := range store.DefaultSyncSettings() {
		by[s.DataType] = s
	}
	for _, s := range base {
		by[s.DataType] = s
	}
	for _, s := range over {
		by[s.DataType] = s
	}
	out := make([]store.SyncSetting, 0, len(dataset.DataTypes))
	for _, dt := range dataset.DataTypes {
		out = append(out, by[dt])
	}
	return out
}

// Overrides reports whether a company's settings cs (own false when it set
// none) replace the client's.
func Overrides(cs store.CompanySyncSettings, own bool) bool {
	return own && cs.OverridesDefaults
}

// EffectiveSettings are the settings in force for a company: its own cs
// merged over the client's profile when they override it (own false when
// it set none), the profile otherwise.
func EffectiveSettings(profile []store.SyncSetting, cs store.CompanySyncSettings, own bool) []store.SyncSetting {
	if !Overrides(cs, own) {
		return profile
	}
	return MergeSettings(profile, cs.Settings)
}

// MovedSchedules are the data types whose schedule differs between two
// full lists of settings (as MergeSettings makes them).
func MovedSchedules(cur, next []store.SyncSetting) []dataset.DataType {
	var moved []dataset.DataType
	for i := range next {
		if next[i].SyncSchedule != cur[i].SyncSchedule {
			moved = append(moved, next[i].DataType)
		}
	}
	return moved
}

// scheduleOf is the hours between scheduled syncs of type t in list; 0 for
// none.
func scheduleOf(list []store.SyncSetting, t dataset.DataType) int {
	for _, s := range list {
		if s.DataType == t {
			return s.SyncSchedule
		}
	}
	return 0
}

// Arm is the entry s pointed at its due time by the settings in force,
// list: SyncSchedule hours after its last request, or none (Due zero) when
// the type has no schedule or the connection is not linked.
func Arm(s store.ScheduledSync, list []store.SyncSetting, linked bool) store.ScheduledSync {
	s.Due = time.Time{}
	if hours := scheduleOf(list, s.DataType); hours > 0 && linked {
		s.Due = s.Requested.Add(time.Duration(hours) * time.Hour)
	}
	return s
}

// QueuedSchedule is the schedule entry of the pair of d, a dataset just
// queued: re-armed from d's request, by list, on a connection linked or
// not.
func QueuedSchedule(d store.Dataset, list []store.SyncSetting, linked bool) store.ScheduledSync {
	s := store.ScheduledSync{CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType, Requested: d.Requested}
	return Arm(s, list, linked)
}

// SameEntry reports whether entries a and b arm the same sync: writing b
// over a would change nothing.
func SameEntry(a, b store.ScheduledSync) bool {
	return a.Due.Equal(b.Due) && a.Requested.Equal(b.Requested) && a.CompanyID == b.CompanyID
}

// Rearms reports whether c's change from old (nil for a new connection)
// moves its schedule: it is armed when the connection becomes Linked and
// disarmed when it stops being Linked, so that the scheduler never reads
// the entries of connections it would not queue on.
func Rearms(old *store.Connection, c store.Connection) bool {
	was := old != nil && old.Status == store.Linked
	return was != (c.Status == store.Linked)
}

// Reschedule moves the entry cur, read as s by the scheduler, to next (none
// when next is zero). It reports false, leaving cur, when cur changed since
// s was read: a dataset was queued meanwhile.
func Reschedule(cur, s store.ScheduledSync, next time.Time) (store.ScheduledSync, bool) {
	if !cur.Due.Equal(s.Due) || !cur.Requested.Equal(s.Requested) {
		return cur, false
	}
	cur.Due = next.UTC()
	return cur, true
}
