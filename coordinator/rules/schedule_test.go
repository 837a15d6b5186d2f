package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMergeSettings(t *testing.T) {
	first, second := dataset.DataTypes[0], dataset.DataTypes[1]
	got := MergeSettings([]store.SyncSetting{{DataType: first, SyncSchedule: 6}}, []store.SyncSetting{{DataType: second, SyncSchedule: 0}})
	if len(got) != len(dataset.DataTypes) {
		t.Fatalf("got %d settings, want one per type (%d)", len(got), len(dataset.DataTypes))
	}
	if got[0].SyncSchedule != 6 || got[1].SyncSchedule != 0 || got[2].SyncSchedule != 24 {
		t.Errorf("schedules: got %d %d %d, want 6 (base), 0 (over), 24 (default)", got[0].SyncSchedule, got[1].SyncSchedule, got[2].SyncSchedule)
	}
	profile := MergeSettings(nil, []store.SyncSetting{{DataType: first, SyncSchedule: 12}})
	own := store.CompanySyncSettings{Settings: []store.SyncSetting{{DataType: first, SyncSchedule: 2}}}
	tests := []struct {
		name      string
		cs        store.CompanySyncSettings
		set       bool
		overrides bool
		want      int
	}{
		{"none set", store.CompanySyncSettings{}, false, false, 12},
		{"set, not overriding", own, true, false, 12},
		{"overriding", own, true, true, 2},
	}
	for _, tt := range tests {
		tt.cs.OverridesDefaults = tt.overrides
		if got := scheduleOf(EffectiveSettings(profile, tt.cs, tt.set), first); got != tt.want {
			t.Errorf("%s: got %d hours, want %d", tt.name, got, tt.want)
		}
	}
	if got := fmt.Sprint(MovedSchedules(profile, got)); got != fmt.Sprintf("[%s %s]", first, second) {
		t.Errorf("moved: got %s", got)
	}
}

func TestArm(t *testing.T) {
	dt := dataset.DataTypes[0]
	list := func(hours int) []store.SyncSetting {
		return MergeSettings(nil, []store.SyncSetting{{DataType: dt, SyncSchedule: hours}})
	}
	d := free(dataset.Queued)
	d.DataType = dt
	tests := []struct {
		name   string
		hours  int
		linked bool
		due    time.Time
	}{
		{"every 6 hours", 6, true, at(0).Add(6 * time.Hour)},
		{"no schedule", 0, true, time.Time{}},
		{"not linked", 6, false, time.Time{}},
	}
	for _, tt := range tests {
		s := QueuedSchedule(d, list(tt.hours), tt.linked)
		want := store.ScheduledSync{CompanyID: "co-1", ConnectionID: "conn-1", DataType: dt, Requested: at(0), Due: tt.due}
		if s != want {
			t.Errorf("%s: got %+v, want %+v", tt.name, s, want)
		}
		if got := Arm(s, list(tt.hours), tt.linked); got != want {
			t.Errorf("%s: re-armed: got %+v, want %+v", tt.name, got, want)
		}
	}
	s := QueuedSchedule(d, list(6), true)
	if !SameEntry(s, Arm(s, list(6), true)) || SameEntry(s, Arm(s, list(7), true)) || SameEntry(s, Arm(s, list(6), false)) {
		t.Error("SameEntry: want true only when the due time stays")
	}
}

func TestReschedule(t *testing.T) {
	cur := store.ScheduledSync{ConnectionID: "conn-1", Requested: at(0), Due: at(3600)}
	paris := time.FixedZone("Paris", 3600)
	got, ok := Reschedule(cur, cur, at(7200).In(paris))
	if !ok || got.Due != at(7200) {
		t.Errorf("due entry: got %+v, %v; want due %v in UTC", got, ok, at(7200))
	}
	if got, ok := Reschedule(cur, cur, time.Time{}); !ok || !got.Due.IsZero() {
		t.Errorf("removed: got %+v, %v", got, ok)
	}
	read := cur
	read.Requested = at(-3600)
	if got, ok := Reschedule(cur, read, at(7200)); ok || got != cur {
		t.Errorf("queued meanwhile: got %+v, %v; want the entry left", got, ok)
	}
}

func TestRearms(t *testing.T) {
	c := func(s store.ConnectionStatus) store.Connection { return store.Connection{ID: "conn-1", Status: s} }
	tests := []struct {
		old  *store.Connection
		new  store.ConnectionStatus
		want bool
	}{
		{nil, store.PendingAuth, false},
		{nil, store.Linked, true},
		{ptr(c(store.PendingAuth)), store.Linked, true},
		{ptr(c(store.Linked)), store.Linked, false},
		{ptr(c(store.Linked)), store.Unlinked, true},
		{ptr(c(store.Unlinked)), store.Deauthorized, false},
	}
	for _, tt := range tests {
		if got := Rearms(tt.old, c(tt.new)); got != tt.want {
			t.Errorf("%v to %s: got %v, want %v", tt.old, tt.new, got, tt.want)
		}
	}
}
