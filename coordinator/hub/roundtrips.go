package hub

import (
	"context"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/tick"
)

// runRoundTripLoop samples the round trips of this replica's agents once a
// minute, until ctx ends.
func (h *Hub) runRoundTripLoop(ctx context.Context) {
	tick.Every(ctx, store.RoundTripMinute, func(ctx context.Context) {
		if err := h.SampleRoundTrips(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("store the agents' round trips", "err", err)
		}
	})
}

// SampleRoundTrips stores, in one batch, the last heartbeat round trip of
// each agent online on this replica that has reported one: a sample a
// minute, and a sign that the agent was online then.
func (h *Hub) SampleRoundTrips(ctx context.Context) error {
	now := h.now().UTC()
	var samples []store.RoundTrip
	for _, c := range h.online() {
		c.mu.Lock()
		ms := c.rttMs
		c.mu.Unlock()
		if ms > 0 {
			samples = append(samples, store.RoundTrip{AgentID: c.agentID, At: now, Millis: ms})
		}
	}
	if len(samples) == 0 {
		return nil
	}
	return h.st.PutRoundTrips(ctx, samples)
}
