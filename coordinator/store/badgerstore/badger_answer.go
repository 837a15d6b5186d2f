package badgerstore

import (
	"sync"
	"sync/atomic"
)

// answer is the last answer of a read the store repeats (a walk of an
// index), kept while no commit that could change it has committed since.
// A commit that could moves the generation once it has committed
// (moved); an answer read at generation g, g taken before the read, is
// served while the generation is g: a commit that moved it after g was
// taken may be missing from the read, and one that moved it before is in
// it. A store just opened has no answer.
type answer[T any] struct {
	gen atomic.Uint64
	mu  sync.Mutex
	at  uint64 // the generation v was read at
	ok  bool   // v is an answer
	v   T
}

// moved notes a commit that may have changed the answer.
func (a *answer[T]) moved() { a.gen.Add(1) }

// generation is the generation to take before a read whose answer is
// kept.
func (a *answer[T]) generation() uint64 { return a.gen.Load() }

// get returns the answer kept, if it still holds.
func (a *answer[T]) get() (T, bool) {
	gen := a.gen.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ok || a.at != gen {
		var zero T
		return zero, false
	}
	return a.v, true
}

// keep keeps v, read at generation gen.
func (a *answer[T]) keep(gen uint64, v T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at, a.ok, a.v = gen, true, v
}
