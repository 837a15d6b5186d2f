package main

import (
	"testing"
	"time"
)

// A restarted coordinator replays its store at a full core with its RSS
// held high and steady, then goes quiet and, within memlimit's quiet
// return, hands back what the replay grew to. Settling waits for that:
// neither the steady RSS of the replay nor the quiet spell before the
// return is the settled reading. (Times scaled down: the span stands for
// memlimit.Quiet and a little more.)
func TestSettleWaitsForTheReturn(t *testing.T) {
	const replay, quiet, high, low = 60 * time.Millisecond, 90 * time.Millisecond, 300 << 20, 80 << 20
	s := settler{every: 2 * time.Millisecond, span: 40 * time.Millisecond, most: time.Minute, band: 1 << 20, cpu: 0.05}
	start := time.Now()
	read := func() (time.Duration, int64, error) {
		switch at := time.Since(start); {
		case at < replay:
			return at, high, nil
		case at < quiet:
			return replay, high, nil
		default:
			return replay, low, nil
		}
	}
	v, settled, err := s.settle(t.Context(), read)
	if err != nil {
		t.Fatal(err)
	}
	if !settled || v != low {
		t.Errorf("settled %v at %d MiB after %v, want settled at %d MiB, after the return", settled, v>>20, time.Since(start), low>>20)
	}
	if at := time.Since(start); at < quiet+s.span {
		t.Errorf("settled %v after the start, before a span past the return (%v)", at, quiet+s.span)
	}
}

// A process that never settles is read at the deadline, and says so.
func TestSettleDeadline(t *testing.T) {
	s := settler{every: time.Millisecond, span: 20 * time.Millisecond, most: 50 * time.Millisecond, band: 1 << 20, cpu: 0.05}
	start := time.Now()
	v, settled, err := s.settle(t.Context(), func() (time.Duration, int64, error) { return time.Since(start), 200 << 20, nil })
	if err != nil || settled || v != 200<<20 {
		t.Errorf("settle of a busy process: %d, %v, %v; want its RSS, not settled, no error", v, settled, err)
	}
}
