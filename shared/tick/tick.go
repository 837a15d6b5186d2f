// Package tick runs the periodic passes of long-lived loops.
package tick

import (
	"context"
	"time"
)

// Every calls fn with ctx every d, the first time d from now, until ctx
// ends. A pass that takes longer than d delays the next rather than
// queueing more. d must be positive.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
