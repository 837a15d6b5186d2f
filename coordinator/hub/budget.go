package hub

import (
	"container/list"
	"context"
	"sync"
)

// budget is a weighted semaphore: a fixed amount (bytes of memory) that
// callers take a share of and give back. Waiters are served in arrival
// order, so a large share is not starved by a stream of small ones.
type budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once the share is taken for the waiter
}

func newBudget(size int64) *budget {
	return &budget{size: size}
}

// acquire takes n (at most the budget's size) once it is free and every
// earlier waiter was served, or returns ctx's error having taken nothing.
func (b *budget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.size)
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	el := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready: // served meanwhile: give it back
			b.used -= n
		default:
			b.waiters.Remove(el)
		}
		b.serveLocked()
		b.mu.Unlock()
		return ctx.Err()
	}
}

// release gives back n taken by acquire.
func (b *budget) release(n int64) {
	n = min(n, b.size)
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("hub: budget released more than was taken")
	}
	b.serveLocked()
	b.mu.Unlock()
}

// serveLocked hands the free amount to waiters, in order.
func (b *budget) serveLocked() {
	for el := b.waiters.Front(); el != nil; el = b.waiters.Front() {
		w := el.Value.(*budgetWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters.Remove(el)
		close(w.ready)
	}
}

// state returns the amount taken and the number of callers waiting.
func (b *budget) state() (used int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.waiters.Len()
}
