package lograte

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestAllow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l Limiter
		type call struct {
			kind  string
			after time.Duration // since the test began
			calls int
			ok    bool
		}
		start := time.Now()
		for i, c := range []call{
			{"a", 0, 1, true},
			{"a", 0, 1, false},
			{"b", 0, 1, true}, // another kind goes its own way
			{"a", 30 * time.Second, 2, false},
			{"a", 59 * time.Second, 3, false},
			{"a", 60 * time.Second, 4, true}, // a minute after the last line
			{"b", 61 * time.Second, 1, true},
			{"a", 61 * time.Second, 1, false},
			{"a", 10 * time.Minute, 2, true},
			{"a", 20 * time.Minute, 1, true}, // none held back
		} {
			time.Sleep(c.after - time.Since(start))
			if calls, ok := l.Allow(c.kind); calls != c.calls || ok != c.ok {
				t.Errorf("call %d: Allow(%q) at %v = %d, %v, want %d, %v", i, c.kind, c.after, calls, ok, c.calls, c.ok)
			}
		}
	})
}

func TestAllowConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			l      Limiter
			wg     sync.WaitGroup
			mu     sync.Mutex
			passed int
		)
		for range 50 {
			wg.Go(func() {
				if _, ok := l.Allow("x"); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if calls, ok := l.Allow("x"); passed != 1 || ok || calls != 50 {
			t.Errorf("%d let through, then Allow = %d, %v; want 1, then 50, false", passed, calls, ok)
		}
	})
}
