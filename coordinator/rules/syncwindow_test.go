package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestNextOpening walks a clock across window openings, a window crossing
// midnight, and London's daylight-saving changes of 2026 (clocks forward
// at 01:00 UTC on Sunday 29 March, back at 01:00 UTC on Sunday 25
// October): a window from 19:00 opens at 19:00 London time on both sides,
// which is 18:00 UTC in summer and 19:00 UTC in winter.
func TestNextOpening(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	weekdayNights := &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{
		{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "19:00", End: "07:00"},
	}}
	at := func(s string) time.Time { // London wall time
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, london)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		w    *store.SyncWindow
		now  time.Time
		want time.Time
	}{
		{"no window", nil, at("2026-12-07 11:00"), at("2026-12-07 11:00")},
		{"no spans: any time", &store.SyncWindow{TimeZone: "UTC"}, at("2026-12-07 11:00"), at("2026-12-07 11:00")},
		{"Monday morning waits for the evening", weekdayNights, at("2026-12-07 11:00"), at("2026-12-07 19:00")},
		{"a minute before it opens", weekdayNights, at("2026-12-07 18:59"), at("2026-12-07 19:00")},
		{"as it opens", weekdayNights, at("2026-12-07 19:00"), at("2026-12-07 19:00")},
		{"after midnight, in Monday's span", weekdayNights, at("2026-12-08 03:00"), at("2026-12-08 03:00")},
		{"as it closes", weekdayNights, at("2026-12-08 07:00"), at("2026-12-08 19:00")},
		{"Friday's span runs into Saturday", weekdayNights, at("2026-12-12 06:59"), at("2026-12-12 06:59")},
		{"Saturday waits for Monday", weekdayNights, at("2026-12-12 12:00"), at("2026-12-14 19:00")},
		{"Sunday night waits for Monday", weekdayNights, at("2026-12-13 23:00"), at("2026-12-14 19:00")},
		{"before clocks go forward", weekdayNights, at("2026-03-27 12:00"), at("2026-03-27 19:00")},
		{"after clocks go forward: 19:00 BST", weekdayNights, at("2026-03-30 12:00"), time.Date(2026, 3, 30, 18, 0, 0, 0, time.UTC)},
		{"after clocks go back: 19:00 GMT", weekdayNights, at("2026-10-26 12:00"), time.Date(2026, 10, 26, 19, 0, 0, 0, time.UTC)},
		{"a span across the change, still open", &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{
			{Days: []string{"Sat"}, Start: "22:00", End: "06:00"},
		}}, time.Date(2026, 3, 29, 4, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 4, 30, 0, 0, time.UTC)},
		{"a span across the change, closed at 06:00 BST", &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{
			{Days: []string{"Sat"}, Start: "22:00", End: "06:00"},
		}}, time.Date(2026, 3, 29, 5, 0, 0, 0, time.UTC), time.Date(2026, 4, 4, 21, 0, 0, 0, time.UTC)},
		{"two spans, the nearer", &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{
			{Days: []string{"Mon"}, Start: "20:00", End: "21:00"}, {Days: []string{"Mon"}, Start: "13:00", End: "14:00"},
		}}, time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)},
		{"start equal to end is a whole day", &store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{
			{Days: []string{"Tue"}, Start: "00:00", End: "00:00"},
		}}, time.Date(2026, 12, 8, 23, 59, 0, 0, time.UTC), time.Date(2026, 12, 8, 23, 59, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextOpening(tt.w, tt.now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("NextOpening at %s = %s, %v; want %s", tt.now.UTC(), got.UTC(), err, tt.want.UTC())
			}
		})
	}
}

// TestHoldAt: a pause holds whatever the window; a closed window holds
// until it opens and says so in the zone's time; an open one holds
// nothing.
func TestHoldAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC) // a Monday
	nights := &store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{{Days: []string{"Mon"}, Start: "19:00", End: "07:00"}}}
	paused := now.Add(-time.Hour)
	h := HoldAt(store.SyncGate{PausedSince: paused, Window: nights, Source: store.WindowOfCompany}, now)
	if !h.Held() || !h.PausedSince.Equal(paused) || !strings.Contains(h.Description(), "paused") {
		t.Errorf("paused: %+v %q", h, h.Description())
	}
	h = HoldAt(store.SyncGate{Window: nights, Source: store.WindowOfCompany}, now)
	if want := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC); !h.Held() || !h.Opens.Equal(want) {
		t.Errorf("closed: %+v, want held until %s", h, want)
	}
	if d := h.Description(); !strings.Contains(d, "company's sync window") || !strings.Contains(d, "2026-12-07T19:00:00Z (Mon 19:00 Europe/London)") {
		t.Errorf("description %q", d)
	}
	if h := HoldAt(store.SyncGate{Window: nights}, now.Add(9*time.Hour)); h.Held() || h.Description() != "" {
		t.Errorf("open: %+v", h)
	}
}

// TestEffectiveWindow: the narrowest set window is in force, whole.
func TestEffectiveWindow(t *testing.T) {
	conn, co, client := &store.SyncWindow{TimeZone: "UTC"}, &store.SyncWindow{TimeZone: "Europe/Paris"}, &store.SyncWindow{TimeZone: "Europe/London"}
	for _, tt := range []struct {
		conn, co, client *store.SyncWindow
		want             *store.SyncWindow
		src              store.WindowSource
	}{
		{conn, co, client, conn, store.WindowOfConnection},
		{nil, co, client, co, store.WindowOfCompany},
		{nil, nil, client, client, store.WindowOfClient},
		{nil, nil, nil, nil, store.WindowNone},
	} {
		if got, src := EffectiveWindow(tt.conn, tt.co, tt.client); got != tt.want || src != tt.src {
			t.Errorf("EffectiveWindow = %v %s, want %v %s", got, src, tt.want, tt.src)
		}
	}
}

func TestCheckSyncWindow(t *testing.T) {
	ok := store.Window{Days: []string{"Mon"}, Start: "19:00", End: "07:00"}
	many := make([]store.Window, MaxWindows+1)
	for i := range many {
		many[i] = ok
	}
	tests := []struct {
		name  string
		w     store.SyncWindow
		field string
	}{
		{"valid", store.SyncWindow{TimeZone: "Europe/London", Windows: []store.Window{ok}}, ""},
		{"valid, no spans", store.SyncWindow{TimeZone: "UTC"}, ""},
		{"no zone", store.SyncWindow{Windows: []store.Window{ok}}, "timeZone"},
		{"Local", store.SyncWindow{TimeZone: "Local"}, "timeZone"},
		{"unknown zone", store.SyncWindow{TimeZone: "Mars/Olympus"}, "timeZone"},
		{"path in zone", store.SyncWindow{TimeZone: "../../etc/passwd"}, "timeZone"},
		{"no days", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Start: "19:00", End: "07:00"}}}, "windows[0].days"},
		{"bad day", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{ok, {Days: []string{"Mon", "Monday"}, Start: "19:00", End: "07:00"}}}, "windows[1].days[1]"},
		{"repeated day", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon", "Mon"}, Start: "19:00", End: "07:00"}}}, "windows[0].days[1]"},
		{"hour 24", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon"}, Start: "24:00", End: "07:00"}}}, "windows[0].start"},
		{"no colon", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon"}, Start: "19:00", End: "0700"}}}, "windows[0].end"},
		{"minute 60", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon"}, Start: "19:60", End: "07:00"}}}, "windows[0].start"},
		{"sign", store.SyncWindow{TimeZone: "UTC", Windows: []store.Window{{Days: []string{"Mon"}, Start: "+9:00", End: "07:00"}}}, "windows[0].start"},
		{"too many spans", store.SyncWindow{TimeZone: "UTC", Windows: many}, "windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSyncWindow(tt.w)
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Errorf("err %v, want one naming %s", err, tt.field)
			}
		})
	}
}
