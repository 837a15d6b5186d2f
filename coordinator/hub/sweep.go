package hub

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/shared/tick"
)

// DefaultSweepInterval is Config.SweepInterval's default.
const DefaultSweepInterval = 5 * time.Second

// runSweepLoop offers every live agent its queued work every
// SweepInterval, until ctx ends: the change feed is the fast path, and a
// change it lost (another replica's notification that never came) costs
// at most this much latency.
func (h *Hub) runSweepLoop(ctx context.Context) {
	tick.Every(ctx, h.cfg.SweepInterval, func(context.Context) {
		for _, c := range h.online() {
			c.kick()
		}
	})
}
