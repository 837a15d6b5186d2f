package hub

import (
	"context"
	"testing"
	"time"
)

// waitState waits until the budget shows used and waiting.
func waitState(t *testing.T, b *budget, used int64, waiting int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		u, w := b.state()
		if u == used && w == waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("budget used %d with %d waiting; want %d with %d", u, w, used, waiting)
		}
	}
}

func TestBudgetServesInOrder(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(t.Context(), 8); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 2)
	go func() { b.acquire(t.Context(), 5); got <- 5 }()
	waitState(t, b, 8, 1)
	go func() { b.acquire(t.Context(), 2); got <- 2 }()
	waitState(t, b, 8, 2)
	// 2 would fit now, but 5 came first: a large share is not starved.
	b.release(8)
	if first, second := <-got, <-got; first+second != 7 {
		t.Fatalf("served %d and %d, want 5 and 2", first, second)
	}
	waitState(t, b, 7, 0)
	b.release(5)
	b.release(2)
	waitState(t, b, 0, 0)
}

func TestBudgetWaiterGivesUp(t *testing.T) {
	b := newBudget(10)
	b.acquire(t.Context(), 10)
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 1)
	go func() { errs <- b.acquire(ctx, 6) }()
	waitState(t, b, 10, 1)
	later := make(chan error, 1)
	go func() { later <- b.acquire(t.Context(), 4) }()
	waitState(t, b, 10, 2)
	cancel()
	if err := <-errs; err != context.Canceled {
		t.Fatalf("acquire after cancel: %v, want context.Canceled", err)
	}
	b.release(6) // 4 free now: the waiter behind the one that gave up is served
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	waitState(t, b, 8, 0)
}
