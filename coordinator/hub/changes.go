package hub

import (
	"context"
	"errors"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// runChangesLoop acts on the store's committed changes, read from sub,
// until ctx ends: a dataset that became Queued is offered to its
// connection's agent (and the connection's queued work is offered again
// when one of its datasets ends, or it is resumed, or a window changes), a
// connection no longer Linked (or deleted) is revoked
// from the agent serving it, and an agent whose credential was revoked is
// disconnected; a diagnostics request for an agent here is run, and an
// answer wakes the callers waiting for one; a support bundle requested
// of an agent here is asked of it, and a raised log level is sent to
// it. Whoever made the change (the API, the Portal, the
// scheduler, an agent's unlink, another coordinator sharing the store)
// need not tell the hub. After a gap in the feed it checks every live
// agent against the store instead.
func (h *Hub) runChangesLoop(ctx context.Context, sub *store.Subscription) {
	sub.Follow(ctx, concerns, h.apply, func(gap *store.GapError) {
		h.log.Warn("change feed gap: checking every live agent against the store", "err", gap)
		h.cfg.Metrics.FeedGap("hub")
		h.channelsChanged()
		h.recheck(ctx)
		h.wakeDiagnostics()
		h.sweepDiagnostics(ctx)
	})
}

// apply acts on one change. Revoked credentials come first: their agents
// are gone before the Deauthorized connections of the same revocation are
// revoked, so they are not told of those. It is handed only the changes
// concerns accepts: what it acts on, concerns must accept.
func (h *Hub) apply(c store.Change) {
	if len(c.Channels) > 0 {
		h.channelsChanged()
	}
	for _, cc := range c.Channels {
		h.claimed(cc)
	}
	for _, id := range c.RevokedAgents {
		h.Disconnect(id, store.ReasonCredentialRevoked)
	}
	for _, d := range c.Diagnostics {
		h.diagnosticsChanged(d)
	}
	for _, b := range c.Bundles {
		h.sendBundle(b)
	}
	for _, l := range c.LogLevels {
		h.sendLogLevel(l)
	}
	for _, u := range c.Updates {
		h.sendUpdate(u)
	}
	for _, cc := range c.Connections {
		if cc.To != store.Linked {
			h.Revoke(cc.ID, withdrawnReason(cc.To))
		} else {
			// Linked, resumed, paused or given another window: what
			// may be offered on it changed (holds.go).
			h.Notify(cc.ID)
		}
	}
	if c.SyncWindows {
		for _, a := range h.online() {
			a.kick()
		}
	}
	for _, d := range c.Datasets {
		if offers(d) {
			h.Notify(d.ConnectionID)
		}
	}
}

// concerns reports whether apply acts on c: the feed wakes the hub's loop
// for these changes only. Most commits of a dataset's lifecycle (claimed,
// uploading, validating, processing) concern it not, and each wake-up
// would put the loop in the run queue beside the dispatch it serves.
func concerns(c store.Change) bool {
	if len(c.Channels) > 0 || len(c.RevokedAgents) > 0 || len(c.Diagnostics) > 0 || len(c.Bundles) > 0 ||
		len(c.LogLevels) > 0 || len(c.Updates) > 0 || len(c.Connections) > 0 || c.SyncWindows {
		return true
	}
	for _, d := range c.Datasets {
		if offers(d) {
			return true
		}
	}
	return false
}

// offers reports whether a dataset's change makes the hub offer its
// connection's queued work again: it was queued, or it ended and so freed
// a place in its agent's hands.
func offers(d store.DatasetChange) bool { return d.To == dataset.Queued || d.To.Terminal() }

// withdrawnReason is what the agent is told when a connection it serves
// becomes status (empty: deleted).
func withdrawnReason(status store.ConnectionStatus) string {
	switch status {
	case "":
		return "deleted by the client"
	case store.Unlinked:
		return "unlinked by the client"
	case store.Deauthorized:
		return "unlinked by the agent"
	}
	return reasonNotLinked
}

// reasonNotLinked is why a connection is revoked when the store no longer
// binds it to the agent serving it, for a reason the hub did not see.
const reasonNotLinked = "no longer linked to this agent"

// recheck does what the changes missed in a gap would have done: it
// disconnects the live agents whose credential is revoked, revokes the
// connections they serve that are no longer Linked to them, and offers
// each the work queued now.
func (h *Hub) recheck(ctx context.Context) {
	for _, c := range h.online() {
		if err := h.recheckAgent(ctx, c); err != nil && ctx.Err() == nil {
			c.logger().Error("check agent after a change feed gap", "err", err)
		}
	}
}

func (h *Hub) recheckAgent(ctx context.Context, c *agentConn) error {
	a, err := h.st.Agent(ctx, c.agentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.Revoked.IsZero()) {
		c.close(store.ReasonCredentialRevoked)
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.recheckChannel(ctx, c); err != nil {
		return err
	}
	conns, err := h.st.AgentConnections(ctx, c.agentID)
	if err != nil {
		return err
	}
	status := make(map[string]store.ConnectionStatus, len(conns))
	for _, cn := range conns {
		status[cn.ID] = cn.Status
	}
	for _, id := range c.bound() {
		switch s, ok := status[id]; {
		case !ok:
			h.Revoke(id, reasonNotLinked)
		case s != store.Linked:
			h.Revoke(id, withdrawnReason(s))
		}
	}
	c.kick()
	return nil
}
