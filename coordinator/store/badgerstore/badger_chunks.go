package badgerstore

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// Cached records in chunks
//
// A snapshot's records are kept in chunks of about chunkBytes, in id
// order: the value under <snapshot>c<last id> (snapshotPrefix, then 'c',
// then the id of the chunk's last record, raw) is the records after the
// chunk before's last and up to its own, each an entry: its id's length
// as a uvarint, the id, its value's length as a uvarint, the value (a
// reference into a staged page, or the record's JSON: snapshotValues).
// A record is found by one seek, to the first chunk whose last id is not
// before its own, and a scan of that chunk; the records in id order by
// reading the chunks in key order.
//
// 50,000 records are so about 250 keys, not 50,000: Badger's one writer
// goroutine inserts each key into a memtable and writes it to its log,
// flushes and compacts it, and that was most of a big publish and the
// deletion of the snapshot it replaced (docs/decisions.md, session 18).
//
// The records come in page order, not id order. snapshotSorter sorts
// them, keeping the later of two with one id, in at most sortBytes of
// memory: a snapshot larger than that is sorted in runs, each written as
// chunks under <snapshot>r<run, 4 bytes>, then merged into the chunks and
// deleted.
const (
	// chunkBytes is the size from which a chunk is written: small
	// enough that a lookup's scan and copies are short (Badger's
	// iterator copies the chunk it stops at and the one after;
	// BenchmarkCachedRecordExists: 21 µs a lookup at 16 KiB, 12 at 4, 9
	// with a key a record), large enough for few keys.
	chunkBytes = 4 << 10
	// sortBytes bounds the memory one snapshot's sort holds (its ids and
	// values, 16 bytes an entry besides) before it writes a run
	// (Badger.sortBytes, which tests lower).
	sortBytes = 32 << 20
)

// chunksPrefix is the prefix of snapshot snap's chunks.
func chunksPrefix(snap []byte) []byte { return append(bytes.Clone(snap), 'c') }

// runPrefix is the prefix of the chunks of run n of snapshot snap.
func runPrefix(snap []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(append(bytes.Clone(snap), 'r'), uint32(n))
}

// appendEntry appends the entry of a record to chunk dst.
func appendEntry(dst, id, val []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	dst = binary.AppendUvarint(dst, uint64(len(val)))
	return append(dst, val...)
}

var errBadChunk = errors.New("bad cached records chunk")

// nextEntry splits the first entry off chunk c; id and val share c.
func nextEntry(c []byte) (id, val, rest []byte, err error) {
	field := func() ([]byte, error) {
		n, w := binary.Uvarint(c)
		if w <= 0 || n > uint64(len(c)-w) {
			return nil, errBadChunk
		}
		f := c[w : w+int(n) : w+int(n)]
		c = c[w+int(n):]
		return f, nil
	}
	if id, err = field(); err != nil {
		return nil, nil, nil, err
	}
	if val, err = field(); err != nil {
		return nil, nil, nil, err
	}
	return id, val, c, nil
}

// eachEntry calls fn with the id and value of each entry of chunk c, in
// order, until fn returns false or an error.
func eachEntry(c []byte, fn func(id, val []byte) (bool, error)) error {
	for len(c) > 0 {
		id, val, rest, err := nextEntry(c)
		if err != nil {
			return err
		}
		if more, err := fn(id, val); err != nil || !more {
			return err
		}
		c = rest
	}
	return nil
}

// eachChunk calls fn with each chunk under p (chunksPrefix), in order, a
// copy of each: a chunk over valueThreshold is in the value log, and a
// reference it holds is resolved with reads of its own.
func eachChunk(ctx context.Context, txn *tx, p []byte, fn func(chunk []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// eachCachedRecord calls fn with the id and the record of each record of
// snapshot ds of the type, in id order, a reference resolved to the
// record in its page.
func eachCachedRecord(ctx context.Context, txn *tx, co, t, ds string, fn func(id, rec []byte) error) error {
	vals := snapshotValues{txn: txn, co: co, ds: ds}
	return eachChunk(ctx, txn, chunksPrefix(snapshotPrefix(co, t, ds)), func(c []byte) error {
		return eachEntry(c, func(id, v []byte) (bool, error) {
			rec, err := vals.record(v)
			if err != nil {
				return false, err
			}
			return true, fn(id, rec)
		})
	})
}

// findEntry is the value of record id in the chunks under p
// (chunksPrefix): the first chunk whose last id is not before id holds it
// if any does. nil, false when none does.
func findEntry(txn *tx, p []byte, id string) ([]byte, bool, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	it.Seek(append(bytes.Clone(p), id...))
	if !it.ValidForPrefix(p) {
		return nil, false, nil
	}
	var (
		out   []byte
		found bool
	)
	err := it.Item().Value(func(c []byte) error {
		return eachEntry(c, func(eid, val []byte) (bool, error) {
			switch bytes.Compare(eid, []byte(id)) {
			case 0:
				out, found = bytes.Clone(val), true
				return false, nil
			case 1:
				return false, nil
			}
			return true, nil
		})
	})
	return out, found, err
}

// chunkBuilder packs entries, added in id order, into chunks under
// prefix, and passes each to emit when it is full, and the last at flush.
// emit may keep the key and value it is passed.
type chunkBuilder struct {
	prefix []byte
	emit   func(k, v []byte) error
	buf    []byte
	last   []byte
}

func (c *chunkBuilder) add(id, val []byte) error {
	if c.buf == nil {
		c.buf = make([]byte, 0, chunkBytes+len(id)+len(val)+2*binary.MaxVarintLen64)
	}
	c.buf = appendEntry(c.buf, id, val)
	c.last = append(c.last[:0], id...)
	if len(c.buf) >= chunkBytes {
		return c.flush()
	}
	return nil
}

func (c *chunkBuilder) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	k := append(bytes.Clone(c.prefix), c.last...)
	v := c.buf
	c.buf = nil
	return c.emit(k, v)
}

// snapshotSorter sorts one snapshot's records by id and writes them as its
// chunks through write, of two records with one id the one added later.
// With a store (b) it holds at most the store's sortBytes, writing sorted
// runs into the store as it fills and merging them at finish; without, it
// holds every record (a caller that bounds them itself).
type snapshotSorter struct {
	ctx   context.Context
	b     *Badger // nil: no runs
	snap  []byte  // snapshotPrefix
	write func(k, v []byte) error
	arena []byte
	ents  []sortEntry
	seq   uint32
	runs  int
}

// sortEntry is a record in the sorter's arena: its id, then its value.
type sortEntry struct{ off, idLen, valLen, seq uint32 }

func (s *snapshotSorter) id(e sortEntry) []byte {
	return s.arena[e.off : e.off+e.idLen]
}

func (s *snapshotSorter) val(e sortEntry) []byte {
	return s.arena[e.off+e.idLen : e.off+e.idLen+e.valLen]
}

// add adds a record; the sorter copies id and val.
func (s *snapshotSorter) add(id, val []byte) error {
	if s.b != nil && len(s.ents) > 0 && len(s.arena)+len(s.ents)*16+len(id)+len(val) > s.b.sortBytes {
		if err := s.writeRun(); err != nil {
			return err
		}
	}
	s.ents = append(s.ents, sortEntry{off: uint32(len(s.arena)), idLen: uint32(len(id)), valLen: uint32(len(val)), seq: s.seq})
	s.seq++
	s.arena = append(append(s.arena, id...), val...)
	return nil
}

// sorted sorts the entries held by id, drops each that a later one with
// the same id replaces, and passes the rest to fn in order.
func (s *snapshotSorter) sorted(fn func(id, val []byte) error) error {
	slices.SortFunc(s.ents, func(a, b sortEntry) int {
		if c := bytes.Compare(s.id(a), s.id(b)); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	for i, e := range s.ents {
		if i+1 < len(s.ents) && bytes.Equal(s.id(e), s.id(s.ents[i+1])) {
			continue
		}
		if err := fn(s.id(e), s.val(e)); err != nil {
			return err
		}
	}
	s.arena, s.ents = s.arena[:0], s.ents[:0]
	return nil
}

// writeRun writes the entries held as the next run, durably.
func (s *snapshotSorter) writeRun() error {
	wb := s.b.db.NewWriteBatch()
	defer wb.Cancel()
	c := chunkBuilder{prefix: runPrefix(s.snap, s.runs), emit: wb.Set}
	if err := s.sorted(c.add); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("sorted run %d of cached records: %w", s.runs, err)
	}
	s.runs++
	return nil
}

// finish writes the chunks: the entries held, or the runs merged (and
// then deleted).
func (s *snapshotSorter) finish() error {
	c := chunkBuilder{prefix: chunksPrefix(s.snap), emit: s.write}
	if s.runs == 0 {
		if err := s.sorted(c.add); err != nil {
			return err
		}
		return c.flush()
	}
	if len(s.ents) > 0 {
		if err := s.writeRun(); err != nil {
			return err
		}
	}
	s.arena, s.ents = nil, nil
	err := s.b.view(s.ctx, func(txn *tx) error { return s.merge(txn, &c) })
	if err == nil {
		err = c.flush()
	}
	if err == nil {
		err = s.b.deletePrefix(s.ctx, append(bytes.Clone(s.snap), 'r'), nil)
	}
	return err
}

// merge adds the runs' entries to c in id order, of one id the latest
// run's.
func (s *snapshotSorter) merge(txn *tx, c *chunkBuilder) error {
	var h runHeap
	for n := range s.runs {
		r := &runCursor{ctx: s.ctx, run: n, p: runPrefix(s.snap, n)}
		r.it = txn.NewIterator(badger.IteratorOptions{Prefix: r.p})
		defer r.it.Close()
		r.it.Seek(r.p)
		switch ok, err := r.next(); {
		case err != nil:
			return err
		case ok:
			h = append(h, r)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		top := h[0]
		if err := c.add(top.id, top.val); err != nil {
			return err
		}
		id := bytes.Clone(top.id)
		// Every run's entry with this id goes: top's is the latest.
		for len(h) > 0 && bytes.Equal(h[0].id, id) {
			r := h[0]
			switch ok, err := r.next(); {
			case err != nil:
				return err
			case ok:
				heap.Fix(&h, 0)
			default:
				heap.Pop(&h)
			}
		}
	}
	return nil
}

// runCursor reads one run's entries in order.
type runCursor struct {
	ctx     context.Context
	run     int
	p       []byte
	it      *badger.Iterator
	chunk   []byte // what is left of the current chunk
	id, val []byte // the current entry
}

// next moves to the run's next entry; false at its end.
func (r *runCursor) next() (bool, error) {
	for len(r.chunk) == 0 {
		if !r.it.ValidForPrefix(r.p) {
			return false, nil
		}
		if err := r.ctx.Err(); err != nil {
			return false, err
		}
		c, err := r.it.Item().ValueCopy(nil)
		if err != nil {
			return false, err
		}
		r.chunk = c
		r.it.Next()
	}
	var err error
	r.id, r.val, r.chunk, err = nextEntry(r.chunk)
	return err == nil, err
}

// runHeap orders the runs' cursors by their entry's id, of one id the
// latest run first.
type runHeap []*runCursor

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].id, h[j].id); c != 0 {
		return c < 0
	}
	return h[i].run > h[j].run
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
