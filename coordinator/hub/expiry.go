package hub

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/tick"
)

// RunExpiryLoop returns datasets whose lease expired to the queue (or ends
// them) every ExpiryInterval, until ctx ends. One replica alone runs it:
// the leader (package leader).
func (h *Hub) RunExpiryLoop(ctx context.Context) {
	tick.Every(ctx, h.cfg.ExpiryInterval, h.ExpireLeases)
}

// ExpireLeases runs one pass of lease expiry at the hub's clock; the
// change feed brings the requeued work back to the hub's offers. Tests call
// it directly with an injected clock.
func (h *Hub) ExpireLeases(ctx context.Context) {
	moved, err := h.st.ExpireLeases(ctx, h.now().UTC())
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("expire leases", "err", err)
		}
		return
	}
	for _, d := range moved {
		h.log.Warn("lease expired", "dataset", d.ID, "company", d.CompanyID, "status", d.Status, "attempt", d.Attempt)
		h.cfg.Metrics.LeaseExpired()
		h.ended(d)
		if agent := leaseHolder(d); agent != "" {
			h.event(store.AgentEvent{AgentID: agent, Type: store.EventLeaseExpired, DatasetID: d.ID,
				Detail: fmt.Sprintf("%s attempt %d: dataset now %s", d.DataType, d.Attempt, d.Status)})
		}
	}
}
