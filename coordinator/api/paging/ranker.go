package paging

import (
	"slices"
	"strings"
)

// Ranker keeps, of the records added to it, the first n in the order an
// orderBy names, ties in the order they were added: the first n that Sort
// would give, holding n at most whatever the number added. A list that
// streams its records in id order ranks page × pageSize of them (see
// Params.SortWindow) and serves the last page of those.
type Ranker[T any] struct {
	path []string
	desc bool
	n    int
	seq  int
	// heap is a max-heap in the ranking: its root is the last record kept,
	// the first to go when a record ranked before it arrives.
	heap []ranked[T]
}

type ranked[T any] struct {
	key sortKey
	seq int
	v   T
}

// NewRanker returns a Ranker of the first n records in the order orderBy
// names ("field" or "-field"; "" keeps the order they are added in).
func NewRanker[T any](orderBy string, n int) *Ranker[T] {
	field, desc := strings.CutPrefix(orderBy, "-")
	r := &Ranker[T]{desc: desc, n: max(n, 0)}
	if field != "" {
		r.path = strings.Split(field, ".")
	}
	return r
}

// Add offers a record, whose value (what Sorted returns for it) value
// makes: it is called only if the record is among the first n so far.
func (r *Ranker[T]) Add(rec map[string]any, value func() T) {
	r.seq++
	it := ranked[T]{seq: r.seq, key: sortKey{kind: kindMissing}}
	if r.path != nil {
		it.key = keyOf(rec, r.path)
	}
	switch {
	case len(r.heap) < r.n:
		it.v = value()
		r.heap = append(r.heap, it)
		r.up(len(r.heap) - 1)
	case r.n > 0 && r.before(it, r.heap[0]):
		it.v = value()
		r.heap[0] = it
		r.down(0)
	}
}

// Sorted returns the values of the records kept, in order.
func (r *Ranker[T]) Sorted() []T {
	items := slices.Clone(r.heap)
	slices.SortFunc(items, func(a, b ranked[T]) int {
		if r.before(a, b) {
			return -1
		}
		return 1 // no two items are equal: their seq differ
	})
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// before reports whether a ranks before b: by the orderBy, then as added.
func (r *Ranker[T]) before(a, b ranked[T]) bool {
	if c := order(a.key, b.key, r.desc); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

func (r *Ranker[T]) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !r.before(r.heap[parent], r.heap[i]) {
			return
		}
		r.heap[parent], r.heap[i] = r.heap[i], r.heap[parent]
		i = parent
	}
}

func (r *Ranker[T]) down(i int) {
	for {
		last, l := i, 2*i+1
		if l < len(r.heap) && r.before(r.heap[last], r.heap[l]) {
			last = l
		}
		if l+1 < len(r.heap) && r.before(r.heap[last], r.heap[l+1]) {
			last = l + 1
		}
		if last == i {
			return
		}
		r.heap[i], r.heap[last] = r.heap[last], r.heap[i]
		i = last
	}
}
