package publish

import (
	"context"
	"sync"
)

// workQueue holds the datasets waiting for a process loop, in the order
// they came, up to a bound. A loop takes the first whose company no other
// loop is working on: a company's datasets are processed one at a time,
// in order, and a company's long publish holds up no other company's
// datasets while a loop is free. (Each company had its own loop by a hash
// of its id: two companies of one loop waited for each other whatever
// the seven other loops were doing.)
type workQueue struct {
	mu    sync.Mutex
	items []item
	busy  map[string]bool // companies a loop is working on
	max   int
	// changed is closed, and replaced, whenever an item comes or a
	// company's turn ends: a caller waiting for either looks again.
	changed chan struct{}
}

func newWorkQueue(max int) *workQueue {
	return &workQueue{busy: map[string]bool{}, max: max, changed: make(chan struct{})}
}

// wake tells the waiting callers to look again; q.mu is held.
func (q *workQueue) wake() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// put adds w at the end, waiting for room; false if ctx ended first.
func (q *workQueue) put(ctx context.Context, w item) bool {
	for {
		q.mu.Lock()
		if len(q.items) < q.max {
			q.items = append(q.items, w)
			q.wake()
			q.mu.Unlock()
			return true
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// take removes and returns the first item whose company is not busy, and
// makes its company busy until done; it waits for one, and returns false
// if ctx ends first.
func (q *workQueue) take(ctx context.Context) (item, bool) {
	for {
		q.mu.Lock()
		for i, w := range q.items {
			if !q.busy[w.companyID] {
				q.items = append(q.items[:i], q.items[i+1:]...)
				q.busy[w.companyID] = true
				q.wake() // room for a put
				q.mu.Unlock()
				return w, true
			}
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return item{}, false
		}
	}
}

// done ends the company's turn that take began.
func (q *workQueue) done(companyID string) {
	q.mu.Lock()
	delete(q.busy, companyID)
	q.wake()
	q.mu.Unlock()
}
