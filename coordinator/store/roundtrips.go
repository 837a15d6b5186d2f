package store

import "time"

// RoundTrip is one sample of an agent's heartbeat round trip, kept in one
// of two rings per agent: a slot a minute for the last day and a slot an
// hour for the last 30 days, so that an agent's samples never number more
// than RoundTripSlots(RoundTripMinute)+RoundTripSlots(RoundTripHour).
type RoundTrip struct {
	AgentID string
	// Resolution is the ring's: RoundTripMinute or RoundTripHour.
	Resolution time.Duration
	// At is the start of the sample's minute or hour (UTC).
	At time.Time
	// Millis is the round trip, in milliseconds: in the hourly ring, the
	// largest of the hour's samples.
	Millis int64
}

// The rings' resolutions.
const (
	RoundTripMinute = time.Minute
	RoundTripHour   = time.Hour
)

// RoundTripSlots is how many samples a ring of resolution res keeps: a
// day's minutes, 30 days' hours.
func RoundTripSlots(res time.Duration) int64 {
	if res == RoundTripHour {
		return 30 * 24
	}
	return 24 * 60
}

// RoundTripSlot is the slot of the ring of res that a sample taken at at
// goes to, and the start of its minute or hour.
func RoundTripSlot(res time.Duration, at time.Time) (int64, time.Time) {
	start := at.UTC().Truncate(res)
	return (start.Unix() / int64(res/time.Second)) % RoundTripSlots(res), start
}
