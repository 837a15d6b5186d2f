package hub

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/shared/tick"
)

// An agent offline for longer than OfflineAfter is reported offline: the
// AgentOffline error on its connections, agent.offline and
// connection.error.raised. Whether it is due is derived from what the
// store holds (the agent's LastSeen, whether a replica holds its channel),
// not from a timer, so a report due while no coordinator ran is made by
// the next leader's first pass. The leader alone runs the loop; an agent
// coming back ends the report in the transaction of its Connected event.

// DefaultOfflineAfter is Config.OfflineAfter's default.
const DefaultOfflineAfter = 15 * time.Minute

// offlineInterval is how often the leader checks agents' presence: a
// quarter of the threshold, between 1 second and 1 minute.
func (h *Hub) offlineInterval() time.Duration {
	return min(max(h.cfg.OfflineAfter/4, time.Second), time.Minute)
}

// RunOfflineLoop checks every offlineInterval, until ctx ends, which
// agents are to be reported offline or no longer (CheckOffline). The
// leader runs it.
func (h *Hub) RunOfflineLoop(ctx context.Context) {
	h.CheckOffline(ctx)
	tick.Every(ctx, h.offlineInterval(), h.CheckOffline)
}

// CheckOffline is one pass at the hub's clock: every agent whose report
// must change (rules.OfflineDue differs from whether it is reported) is
// checked again in one transaction with its channel and connections
// (store CheckAgentOffline). Reading the agents and channels is the whole
// cost of a pass where nothing changes.
func (h *Hub) CheckOffline(ctx context.Context) {
	agents, err := h.st.Agents(ctx)
	if err != nil {
		h.offlineErr(ctx, err)
		return
	}
	chans, err := h.st.Channels(ctx)
	if err != nil {
		h.offlineErr(ctx, err)
		return
	}
	online := make(map[string]bool, len(chans))
	for _, ch := range chans {
		online[ch.AgentID] = ch.Replica != ""
	}
	now := h.now().UTC()
	for _, a := range agents {
		if rules.OfflineDue(a, online[a.ID], now, h.cfg.OfflineAfter) == !a.Offline.IsZero() {
			continue
		}
		changed, err := h.st.CheckAgentOffline(ctx, a.ID, now, h.cfg.OfflineAfter)
		if err != nil {
			h.offlineErr(ctx, err)
			return
		}
		if changed {
			h.log.Info("agent presence report changed", "agent", a.ID, "offline", !online[a.ID])
		}
	}
}

func (h *Hub) offlineErr(ctx context.Context, err error) {
	if ctx.Err() == nil {
		h.log.Error("check agents offline", "err", err)
	}
}
