package fleet

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// MaxRange is the longest range Connectivity and RoundTrips answer.
const MaxRange = 90 * Day

// Connectivity returns an agent's intervals over [from, to)
// (rules.AgentConnectivity): its events, its round-trip samples as signs
// of life, and whether a replica holds its channel now. store.ErrNotFound
// when the agent is missing.
func (f *Fleet) Connectivity(ctx context.Context, agentID string, from, to time.Time) (rules.Connectivity, error) {
	a, err := f.st.Agent(ctx, agentID)
	if err != nil {
		return rules.Connectivity{}, err
	}
	events, err := f.st.AgentEvents(ctx, agentID)
	if err != nil {
		return rules.Connectivity{}, err
	}
	var alive []time.Time
	for _, res := range []time.Duration{store.RoundTripHour, store.RoundTripMinute} {
		samples, err := f.st.RoundTrips(ctx, agentID, res, time.Time{}, to.Add(res))
		if err != nil {
			return rules.Connectivity{}, err
		}
		for _, s := range samples {
			alive = append(alive, s.At)
		}
	}
	ch, err := f.st.Channel(ctx, agentID)
	if err != nil {
		return rules.Connectivity{}, err
	}
	return rules.AgentConnectivity(rules.ConnectivityInput{Events: events, Alive: alive, Created: a.Created,
		From: from, To: to, Now: f.now(), OnlineNow: ch.Replica != ""}), nil
}

// RoundTrips returns an agent's round-trip samples over [from, to): a
// sample a minute when the range is a day or less and lies within the
// last day, else a sample an hour (each the hour's largest); with the
// resolution. store.ErrNotFound when the agent is missing.
func (f *Fleet) RoundTrips(ctx context.Context, agentID string, from, to time.Time) (time.Duration, []store.RoundTrip, error) {
	if _, err := f.st.Agent(ctx, agentID); err != nil {
		return 0, nil, err
	}
	res := store.RoundTripHour
	if to.Sub(from) <= Day && !from.Before(f.now().Add(-Day)) {
		res = store.RoundTripMinute
	}
	samples, err := f.st.RoundTrips(ctx, agentID, res, from, to)
	return res, samples, err
}
