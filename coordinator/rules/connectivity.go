package rules

import (
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// The states of an agent's connectivity interval.
const (
	StateOnline  = "Online"
	StateOffline = "Offline"
	// StateUnknown: nothing says whether the agent was online: before its
	// oldest kept event, or while no coordinator ran (after a clean stop or
	// a crash, until the agent connected again). Not the agent's fault:
	// left out of the uptime, and its start is no disconnect.
	StateUnknown = "Unknown"
)

// Why an interval ended, besides the store.Reason* of a disconnect.
const (
	// EndReconnected ends an Offline or Unknown interval: the agent
	// connected.
	EndReconnected = "agent connected"
	// EndCoordinatorStopped ends an Online interval whose connection's end
	// no coordinator recorded: the coordinator holding it stopped without
	// a word (a crash); the interval ends at the last round trip sampled.
	EndCoordinatorStopped = "coordinator stopped (no disconnect recorded)"
)

// RestartGap is the longest silence (no round-trip sample, no event)
// between two connections of an agent with no disconnect recorded
// between them that still counts as one Online span: the minute samples
// and a quick restart of the coordinator fit in it. A longer one is
// Online until the last sample, then Unknown.
const RestartGap = 2 * time.Minute

// Interval is a span of an agent's connectivity.
type Interval struct {
	State      string
	Start, End time.Time
	// EndReason is why it ended; empty for the last, which ends at the
	// range's end.
	EndReason string
}

// Connectivity is an agent's connectivity over a range.
type Connectivity struct {
	Intervals []Interval
	// Online and Offline are the time spent in each state; Unknown time
	// counts in neither.
	Online, Offline time.Duration
	// Disconnects counts the Online intervals in the range that ended
	// Offline: the agent's disconnects (a coordinator's stop is not one).
	Disconnects int
}

// UptimePercent is the share of the known time the agent was online; ok
// is false when none of the range is known.
func (c Connectivity) UptimePercent() (float64, bool) {
	known := c.Online + c.Offline
	if known <= 0 {
		return 0, false
	}
	return 100 * float64(c.Online) / float64(known), true
}

// ConnectivityInput is what AgentConnectivity reads.
type ConnectivityInput struct {
	// Events are the agent's events, in any order (only Connected and
	// Disconnected count).
	Events []store.AgentEvent
	// Alive are the times of the agent's round-trip samples: it was online
	// then.
	Alive []time.Time
	// Created is when the agent was created: nothing before it is shown.
	Created time.Time
	// From and To are the range; Now the present, and OnlineNow whether
	// the agent is online at it (a range reaching Now ends an Online
	// state that no coordinator holds as a coordinator's stop).
	From, To, Now time.Time
	OnlineNow     bool
}

// AgentConnectivity replays an agent's connection events into intervals
// over [From, To): Connected starts an Online interval; a disconnect
// starts an Offline one, except that a superseded connection changes
// nothing (its newer connection keeps the agent online) and the
// coordinator's stop starts an Unknown one; two Connected events with
// no disconnect between them are one Online span when no more than
// RestartGap passed between the last sign of life (an event or a
// sample) and the second, and otherwise Online until that sign, then
// Unknown (EndCoordinatorStopped).
func AgentConnectivity(in ConnectivityInput) Connectivity {
	evs := slices.Clone(in.Events)
	slices.SortFunc(evs, func(a, b store.AgentEvent) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	alive := slices.Clone(in.Alive)
	slices.SortFunc(alive, time.Time.Compare)
	r := replay{alive: alive, superseded: supersessions(evs)}
	r.state, r.since = StateUnknown, time.Time{}
	for _, e := range evs {
		r.apply(e)
	}
	if r.state == StateOnline && !in.OnlineNow && !in.To.Before(in.Now) {
		if last := r.lastAlive(r.since, in.Now); in.Now.Sub(last) > RestartGap {
			r.move(last, StateUnknown, EndCoordinatorStopped)
		}
	}
	r.move(in.To.Add(time.Nanosecond), "", "") // closes the last; clipped to To below
	from := in.From
	if in.Created.After(from) {
		from = in.Created
	}
	return clip(r.out, from, in.To)
}

// supersessions are the times of the disconnects of superseded
// connections: a Connected near one is a newer connection, not a
// reconnection after a coordinator's stop.
func supersessions(evs []store.AgentEvent) []time.Time {
	var out []time.Time
	for _, e := range evs {
		if e.Type == store.EventDisconnected && e.Reason == store.ReasonSuperseded {
			out = append(out, e.At)
		}
	}
	return out
}

// replay is AgentConnectivity's state while it reads the events.
type replay struct {
	alive, superseded []time.Time
	state             string
	since             time.Time
	lastEvent         time.Time
	out               []Interval
}

func (r *replay) apply(e store.AgentEvent) {
	switch {
	case e.Type == store.EventConnected && r.state == StateOnline:
		since := r.since
		if r.lastEvent.After(since) {
			since = r.lastEvent
		}
		last := r.lastAlive(since, e.At)
		if e.At.Sub(last) > RestartGap && !near(r.superseded, e.At) {
			r.move(last, StateUnknown, EndCoordinatorStopped)
			r.move(e.At, StateOnline, EndReconnected)
		}
	case e.Type == store.EventConnected:
		r.move(e.At, StateOnline, EndReconnected)
	case e.Type != store.EventDisconnected || r.state != StateOnline || e.Reason == store.ReasonSuperseded:
	case e.Reason == store.ReasonShutdown:
		r.move(e.At, StateUnknown, e.Reason)
	default:
		r.move(e.At, StateOffline, e.Reason)
	}
	if e.Type == store.EventConnected || e.Type == store.EventDisconnected {
		r.lastEvent = e.At
	}
}

// move ends the current interval at at with reason and starts state.
func (r *replay) move(at time.Time, state, reason string) {
	if !r.since.IsZero() || r.state != StateUnknown {
		r.out = append(r.out, Interval{State: r.state, Start: r.since, End: at, EndReason: reason})
	}
	r.state, r.since = state, at
}

// lastAlive is the latest sign of life in [from, before): the last sample
// there, or from.
func (r *replay) lastAlive(from, before time.Time) time.Time {
	i, _ := slices.BinarySearchFunc(r.alive, before, time.Time.Compare)
	if i > 0 && !r.alive[i-1].Before(from) {
		return r.alive[i-1]
	}
	return from
}

// near reports whether one of ts is within RestartGap of at.
func near(ts []time.Time, at time.Time) bool {
	for _, t := range ts {
		if d := t.Sub(at).Abs(); d <= RestartGap {
			return true
		}
	}
	return false
}

// clip keeps the parts of ivs inside [from, to), the first starting an
// Unknown one when the history starts after from, and sums the states.
func clip(ivs []Interval, from, to time.Time) Connectivity {
	c := Connectivity{Intervals: []Interval{}}
	if !from.Before(to) {
		return c
	}
	if len(ivs) == 0 || ivs[0].Start.After(from) {
		end, reason := to, ""
		if len(ivs) > 0 && ivs[0].Start.Before(to) {
			end, reason = ivs[0].Start, EndReconnected
		}
		ivs = append([]Interval{{State: StateUnknown, Start: from, End: end, EndReason: reason}}, ivs...)
	}
	for _, iv := range ivs {
		if !iv.End.After(from) || !iv.Start.Before(to) {
			continue
		}
		if iv.End.After(to) {
			iv.End, iv.EndReason = to, ""
		}
		if iv.Start.Before(from) {
			iv.Start = from
		}
		if !iv.Start.Before(iv.End) {
			continue
		}
		switch iv.State {
		case StateOnline:
			c.Online += iv.End.Sub(iv.Start)
			if iv.EndReason != "" && iv.EndReason != store.ReasonShutdown && iv.EndReason != EndCoordinatorStopped {
				c.Disconnects++
			}
		case StateOffline:
			c.Offline += iv.End.Sub(iv.Start)
		}
		c.Intervals = append(c.Intervals, iv)
	}
	return c
}
