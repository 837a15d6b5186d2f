package tick

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		var at []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			Every(ctx, time.Second, func(ctx context.Context) {
				at = append(at, time.Since(start))
				if len(at) == 2 {
					time.Sleep(2500 * time.Millisecond) // a slow pass
				}
				if ctx.Err() != nil {
					t.Error("a pass after ctx ended")
				}
			})
		}()
		time.Sleep(5500 * time.Millisecond)
		cancel()
		<-done
		// 1s, 2s, then the slow pass ends at 4.5s: the ticks it missed
		// make one pass at once, and the next comes at 5s.
		want := []time.Duration{time.Second, 2 * time.Second, 4500 * time.Millisecond, 5 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("passes at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Errorf("passes at %v, want %v", at, want)
				break
			}
		}
	})
}

func TestEveryEndsWithCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := 0
		Every(ctx, time.Nanosecond, func(context.Context) { calls++ })
		if calls != 0 {
			t.Errorf("%d passes after ctx ended, want 0", calls)
		}
	})
}

// A pass that cancels ctx is the last, even when the next tick is due by
// the time it returns. (select picks at random between a due tick and
// the end: 20 runs would all miss a fault by chance once in a million.)
func TestEveryEndsWhenFnCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for range 20 {
			ctx, cancel := context.WithCancel(t.Context())
			calls := 0
			Every(ctx, time.Second, func(context.Context) {
				if calls++; calls == 3 {
					time.Sleep(2 * time.Second) // the next tick is due
					cancel()
				}
			})
			if calls != 3 {
				t.Fatalf("%d passes, want 3", calls)
			}
		}
	})
}
