// Package tick runs the periodic passes of long-lived loops.
package tick

import (
	"context"
	"time"
)

// Every calls fn with ctx every d, the first time d from now, until ctx
// ends; it never calls fn once ctx has ended, so fn may end the loop by
// cancelling ctx. A pass that takes longer than d delays the next rather
// than queueing more. d must be positive.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return // the tick and the end came together
		}
		fn(ctx)
	}
}
