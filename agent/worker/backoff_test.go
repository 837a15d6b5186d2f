package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestBackoffFullJitter(t *testing.T) {
	lo, hi := time.Second, time.Minute
	for failures := 1; failures <= 12; failures++ {
		ceiling := min(hi, lo<<failures)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(failures, lo, hi)
			if d < lo || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, lo, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d) took only %d distinct values in 200 draws: no jitter", failures, len(seen))
		}
	}
	if d := backoff(1000, lo, hi); d > hi {
		t.Errorf("backoff after many failures = %v, over the cap %v", d, hi)
	}
}

func TestMappingProgress(t *testing.T) {
	last := 0
	for _, n := range []int{0, 1000, 10000, 100000, 10000000} {
		p := mappingProgress(n)
		if p < 40 || p > 78 || p < last {
			t.Errorf("mappingProgress(%d) = %d; want 40..78, never falling (was %d)", n, p, last)
		}
		last = p
	}
}

// TestBusyWaitJitter: the wait after a busy refusal is at least its
// Retry-After (protocol.BusyRetry when it said none) and at most a second
// and a quarter of it more, spread between.
func TestBusyWaitJitter(t *testing.T) {
	for _, after := range []time.Duration{0, time.Second, 7 * time.Second, time.Minute} {
		floor := after
		if floor == 0 {
			floor = protocol.BusyRetry
		}
		ceiling := floor + time.Second + floor/4
		seen := map[time.Duration]bool{}
		for range 200 {
			d := (&BusyError{After: after}).wait()
			if d < floor || d > ceiling {
				t.Fatalf("wait after Retry-After %v = %v, want within [%v, %v]", after, d, floor, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("wait after Retry-After %v took only %d distinct values in 200 draws: no jitter", after, len(seen))
		}
	}
}

// TestBusyRefusalsAreNotFailures: an agent refused as busy eight times in
// a row waits each refusal's Retry-After (3 s) and its jitter, never its
// growing backoff (after eight failures, up to 256 s); the connection
// failure that follows waits the first failure's backoff. The worker's
// timer is counted, not waited.
func TestBusyRefusalsAreNotFailures(t *testing.T) {
	const refusals = 8
	const after = 3 * time.Second
	var (
		mu    sync.Mutex
		dials int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		dials++
		n := dials
		mu.Unlock()
		if n > refusals {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Retry-After", "3")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(protocol.Error{Code: protocol.CodeBusy, Message: "busy"})
	}))
	defer srv.Close()
	w := New(Config{Coordinator: srv.URL, Credential: "fra_test", Version: "test", Logger: slog.New(slog.DiscardHandler),
		BackoffMin: time.Second, BackoffMax: 10 * time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var waits []time.Duration
	w.after = func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		if len(waits) == refusals+1 {
			cancel()
		}
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(waits) != refusals+1 {
		t.Fatalf("%d waits, want %d: %v", len(waits), refusals+1, waits)
	}
	for i, d := range waits[:refusals] {
		if d < after || d > after+busyJitter(after) {
			t.Errorf("wait after busy refusal %d: %v, want within [%v, %v]; waits %v", i+1, d, after, after+busyJitter(after), waits)
		}
	}
	if d := waits[refusals]; d > 2*time.Second {
		t.Errorf("wait after the first connection failure, past %d busy refusals: %v, want at most 2s (the first failure's backoff)", refusals, d)
	}
}
