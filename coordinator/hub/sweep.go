package hub

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/shared/tick"
)

// DefaultSweepInterval is Config.SweepInterval's default.
const DefaultSweepInterval = 5 * time.Second

// runSweepLoop offers their queued work to the live agents serving a
// connection that has some, every SweepInterval, until ctx ends: the
// change feed is the fast path, and a change it lost (another replica's
// notification that never came) costs at most this much latency. One
// read of the store a sweep, whatever the number of agents.
func (h *Hub) runSweepLoop(ctx context.Context) {
	tick.Every(ctx, h.cfg.SweepInterval, h.sweep)
}

// sweep is one pass of the sweep loop; it also runs the diagnostics
// requests waiting for this replica's agents.
func (h *Hub) sweep(ctx context.Context) {
	h.sweepDiagnostics(ctx)
	ids, err := h.st.QueuedConnections(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("sweep: list the connections with queued work", "err", err)
		}
		return
	}
	kicked := map[*agentConn]bool{}
	for _, id := range ids {
		if c := h.serving(id); c != nil && !kicked[c] {
			kicked[c] = true
			c.kick()
		}
	}
}
