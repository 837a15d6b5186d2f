package storetest

import (
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// testRoundTrips checks the two rings: a minute's later sample replaces
// the earlier, an hour keeps its largest, a slot reused a day (or 30
// days) later forgets the old sample, and reads are bounded by time.
func testRoundTrips(f *fixture) {
	rt := func(agent string, at time.Time, ms int64) store.RoundTrip {
		return store.RoundTrip{AgentID: agent, At: at, Millis: ms}
	}
	base := t0.Truncate(time.Hour)
	put := func(s ...store.RoundTrip) {
		f.Helper()
		if err := f.s.PutRoundTrips(f.ctx, s); err != nil {
			f.Fatalf("PutRoundTrips: %v", err)
		}
	}
	put(rt("ag-1", base.Add(10*time.Second), 30), rt("ag-1", base.Add(50*time.Second), 20),
		rt("ag-1", base.Add(70*time.Second), 90), rt("ag-2", base, 5))
	put(rt("ag-1", base.Add(2*time.Minute), 40))
	show := func(res time.Duration, from, to time.Time) string {
		f.Helper()
		got, err := f.s.RoundTrips(f.ctx, "ag-1", res, from, to)
		if err != nil {
			f.Fatalf("RoundTrips: %v", err)
		}
		s := ""
		for _, x := range got {
			s += fmt.Sprintf("%v=%d ", x.At.Sub(base), x.Millis)
		}
		return s
	}
	far := base.Add(1000 * time.Hour)
	if got, want := show(store.RoundTripMinute, base, far), "0s=20 1m0s=90 2m0s=40 "; got != want {
		f.Errorf("minute ring: got %q, want %q", got, want)
	}
	if got, want := show(store.RoundTripHour, base, far), "0s=90 "; got != want {
		f.Errorf("hour ring: got %q, want %q", got, want)
	}
	if got, want := show(store.RoundTripMinute, base.Add(time.Minute), base.Add(2*time.Minute)), "1m0s=90 "; got != want {
		f.Errorf("minute ring from 1m to 2m: got %q, want %q", got, want)
	}
	// A day later the minute slot 0 is reused; 30 days later the hour's.
	put(rt("ag-1", base.Add(24*time.Hour), 7), rt("ag-1", base.Add(30*24*time.Hour+5*time.Minute), 8))
	if got, want := show(store.RoundTripMinute, base, far), "1m0s=90 2m0s=40 24h0m0s=7 720h5m0s=8 "; got != want {
		f.Errorf("minute ring after a day: got %q, want %q", got, want)
	}
	if got, want := show(store.RoundTripHour, base, far), "24h0m0s=7 720h0m0s=8 "; got != want {
		f.Errorf("hour ring after 30 days: got %q, want %q", got, want)
	}
	if got, err := f.s.RoundTrips(f.ctx, "ag-none", store.RoundTripMinute, base, far); err != nil || len(got) != 0 {
		f.Errorf("RoundTrips of an agent without any: %v, %v; want none", got, err)
	}
}
