package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Badger is the Store kept in an embedded Badger database in one local
// directory. Every rule is checked and every index kept inside one Badger
// transaction; a transaction that loses a race to another is run again, up to
// maxConflictRetries times, against what the winner wrote.
type Badger struct {
	db *badger.DB
	// log reports what a call that succeeded left undone: space not yet
	// reclaimed, which a later call reclaims.
	log *slog.Logger
	// now stamps the transitions of calls that carry no time of their own
	// (UpdateConnection and DeleteConnection ending queued datasets).
	now func() time.Time
	// deleteChunk is how many keys one DeleteCompany transaction removes,
	// with the index entries that go with them, to stay well inside
	// Badger's limit on the size of a transaction.
	deleteChunk int
	// sortBytes bounds the memory one snapshot's sort holds before it
	// writes a sorted run (snapshotSorter).
	sortBytes int
	// sweep is held by the dropEndedPages call sweeping now.
	sweep sync.Mutex
	// marks is whether dropEndedPages' last sweep left no mark
	// (badger_page.go).
	marks answer[struct{}]
	// staged counts the bytes of pages PutPage staged since it last
	// released the store's mapped files (releaseFiles).
	staged atomic.Int64
	// feed receives what each committed transaction changed.
	feed *store.Feed
	// held is what needs no durability: upload slots and refusal
	// windows (badger_held.go).
	held held
	// queued is QueuedConnections' last answer (badger_dataset.go).
	queued answer[[]string]
	// leases is ExpireLeases' last walk that found nothing due: the first
	// entry's key up to its time, nil if none (badger_lease.go).
	leases answer[[]byte]
	// updates holds a slot for each update transaction open now, at most
	// maxOpenUpdates of them.
	updates chan struct{}
	// openUpdates counts the update transactions open now,
	// peakUpdates is the most that were open at once, and begunUpdates
	// is how many have begun.
	openUpdates, peakUpdates, begunUpdates atomic.Int64
	// txns counts the transactions begun (views, runs of updates, write
	// batches): each waits for the commits in flight to be synced before
	// it reads (Badger's read timestamp), so on a path that waits for its
	// answer each costs a sync while others write.
	txns atomic.Int64
	// decodes counts the documents transactions decoded (getDoc).
	decodes atomic.Int64
}

// tx is one Badger transaction of the store, with the change it makes as
// the feed's subscribers see it (changes.go), built by its writes and
// published once it commits.
type tx struct {
	*badger.Txn
	change store.Change
	// docs are the documents the transaction decoded (getDoc), by key: a
	// company, a connection, a dataset read by several helpers of one
	// transaction is decoded once. Set and Delete drop a key's entry, so
	// a read after a write decodes what was written; the map goes with
	// the transaction (a run again after a conflict starts empty).
	docs map[string]any
	// decodes counts the documents getDoc decoded, for tests.
	decodes int
	// leased is set when the transaction sets a key in the lease index
	// (leaseCache).
	leased bool
	// marks are the ended-pages marks the transaction sets and does not
	// delete again (markCache): a finish marks its own dataset's pages
	// ended and deletes them and the mark at once.
	marks map[string]struct{}
}

// Set writes k in the transaction, dropping what getDoc holds of it.
func (t *tx) Set(k, v []byte) error {
	delete(t.docs, string(k))
	if bytes.HasPrefix(k, endedPagesPrefix) {
		if t.marks == nil {
			t.marks = map[string]struct{}{}
		}
		t.marks[string(k)] = struct{}{}
	}
	return t.Txn.Set(k, v)
}

// Delete deletes k in the transaction, dropping what getDoc holds of it.
func (t *tx) Delete(k []byte) error {
	delete(t.docs, string(k))
	delete(t.marks, string(k))
	return t.Txn.Delete(k)
}

// getDoc decodes the value at k as a T once a transaction and returns a
// clone of it, which the caller may change; badger.ErrKeyNotFound if
// missing. Every read of a key through getDoc must use the same T.
func getDoc[T any](txn *tx, k []byte, clone func(T) T) (T, error) {
	if v, ok := txn.docs[string(k)].(T); ok {
		return clone(v), nil
	}
	var v T
	if err := getJSON(txn, k, &v); err != nil {
		return v, err
	}
	txn.decodes++
	if txn.docs == nil {
		txn.docs = make(map[string]any)
	}
	txn.docs[string(k)] = v
	return clone(v), nil
}

// ErrLocked: another process (a coordinator, most likely) has the store
// open; Badger allows one at a time.
var ErrLocked = errors.New("the store is in use by another process (a running coordinator?)")

// lockedMessage is in Badger's error when another process holds the
// directory's lock; Badger wraps no error that says so.
const lockedMessage = "Another process is using this Badger database"

// feedCapacity is how many changes the feed keeps for subscribers that
// fall behind: a few seconds of a busy coordinator's commits.
const feedCapacity = 4096

// maxConflictRetries bounds the runs of one transaction that keeps losing
// races. A loser runs again at once: its second run sees the winner's write
// and usually ends without writing, so it cannot conflict again.
const maxConflictRetries = 20

// maxOpenUpdates bounds the update transactions open at once. Badger's
// oracle keeps each committed transaction's keys until every transaction
// that began reading before it commits has ended, and each commit checks
// its reads against all of them, under the lock that orders commits: with
// thousands of transactions open at once (waiting for their turn to sync),
// each commit scans thousands, and the commits per second fall as the
// writers grow (15,000 agents connecting at once never got online). 256
// open at once still fill each synced write with as many commits as 64
// writers do (BenchmarkConcurrentWriters prints both), and keep the scan
// short.
const maxOpenUpdates = 256

// Open opens (or creates) the store in dir. Writes are synced to disk
// before they are acknowledged. Badger's own messages go to logger, warnings
// and errors only; a nil logger discards them.
func Open(dir string, logger *slog.Logger) (*Badger, error) {
	return openBadger(dir, logger, true)
}

// openBadger is Open with the choice to sync writes, which only a
// benchmark's setup may turn off.
func openBadger(dir string, logger *slog.Logger, syncWrites bool) (*Badger, error) {
	if dir == "" {
		return nil, errors.New("open badger: no directory")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return openBadgerWith(tuned(badger.DefaultOptions(dir)).WithSyncWrites(syncWrites), logger)
}

// valueThreshold is the size from which Badger keeps a value in its value
// log, not in its tables (staged pages).
const valueThreshold = 64 << 10

// tuned bounds Badger's memory for a coordinator that also serves the API:
// small memtables, two of them, two compactors, a smaller block cache, and
// values over 64 KiB (upload pages) kept in the value log rather than the
// memtables. A big dataset's records pass through the LSM tree when its
// snapshot is written: each memtable (and its mapped write-ahead log) and
// each table builder holds a share of them, so their size and number set
// the publish's peak memory (BenchmarkPublishCache: 758 MiB with three of
// 32 MiB and four compactors, 329 with two of 8 MiB and two). A
// transaction may hold 15% of a memtable: 1.2 MiB, far above the store's
// largest (staged pages, in the value log, count a pointer each). The
// block cache (decompressed blocks, on the heap) holds the hot set of
// point reads; the agents' return after a restart reads every agent's
// keys once and fills whatever room it has, which then stays live (16 MiB
// was about 34 KiB of RSS an agent at 1,000 agents, with the memory
// limit's room).
func tuned(o badger.Options) badger.Options {
	return o.WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumCompactors(2).
		WithBlockCacheSize(4 << 20).
		WithValueThreshold(valueThreshold)
}

// Options are the options Open opens Badger in dir with, for a
// benchmark's limit: a WriteBatch into a database opened with them is
// what the store's own writes are compared with.
func Options(dir string) badger.Options {
	return tuned(badger.DefaultOptions(dir)).WithSyncWrites(true).WithLogger(nil)
}

func openBadgerWith(opts badger.Options, logger *slog.Logger) (*Badger, error) {
	dir := opts.Dir
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := badger.Open(opts.WithLogger(badgerLogger{logger}))
	if err != nil && strings.Contains(err.Error(), lockedMessage) {
		return nil, fmt.Errorf("open badger %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	b := newBadger(db, logger)
	if err := b.initCounts(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open badger %s: count datasets: %w", dir, err)
	}
	if err := b.scrubLinkCodes(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	if err := b.moveSnapshotKeys(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open badger %s: move cached records: %w", dir, err)
	}
	if err := b.chunkSnapshots(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open badger %s: write cached records as chunks: %w", dir, err)
	}
	return b, nil
}

// newBadger is the store on db, before Open's checks.
func newBadger(db *badger.DB, logger *slog.Logger) *Badger {
	return &Badger{db: db, log: logger, now: time.Now, deleteChunk: 500, sortBytes: sortBytes, feed: store.NewFeed(feedCapacity),
		updates: make(chan struct{}, maxOpenUpdates)}
}

// Feed is the feed on which every committed change is published.
func (b *Badger) Feed() *store.Feed { return b.feed }

// CollectGarbage reclaims the disk space of deleted and replaced values
// (old cache snapshots, staged pages): it rewrites value-log files that are
// at least half garbage until none is left, and returns how many it
// rewrote. Call it periodically; it is safe alongside other calls.
func (b *Badger) CollectGarbage() (int, error) {
	rewrites := 0
	for {
		err := b.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			rewrites++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return rewrites, nil
		default:
			return rewrites, fmt.Errorf("value log gc: %w", err)
		}
	}
}

// Close flushes and closes the database.
func (b *Badger) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close badger: %w", err)
	}
	return nil
}

// update runs fn in a read-write transaction and commits it, running it
// again when the commit loses a race (badger.ErrConflict). fn may run more
// than once, so it must leave nothing behind outside the transaction but the
// results of its last run. Once it commits, the change its last run
// recorded, if any, is published on the feed. It waits (or ends with ctx)
// while maxOpenUpdates others are open; fn must not call update itself.
func (b *Badger) update(ctx context.Context, fn func(txn *tx) error) error {
	select {
	case b.updates <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.updates }()
	b.begunUpdates.Add(1)
	b.notePeak(b.openUpdates.Add(1))
	defer b.openUpdates.Add(-1)
	for range maxConflictRetries {
		if err := ctx.Err(); err != nil {
			return err
		}
		var run *tx
		b.txns.Add(1)
		err := b.db.Update(func(t *badger.Txn) error {
			run = &tx{Txn: t}
			defer func() { b.decodes.Add(int64(run.decodes)) }()
			return fn(run)
		})
		if err == nil && (len(run.change.Datasets) > 0 || len(run.change.Connections) > 0) {
			b.queued.moved()
		}
		if err == nil && run.leased {
			b.leases.moved()
		}
		if err == nil && len(run.marks) > 0 {
			b.marks.moved()
		}
		if err == nil && !run.change.Empty() {
			b.feed.Publish(run.change)
		}
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("transaction lost %d races in a row: %w", maxConflictRetries, badger.ErrConflict)
}

// notePeak raises peakUpdates to open.
func (b *Badger) notePeak(open int64) {
	for {
		peak := b.peakUpdates.Load()
		if open <= peak || b.peakUpdates.CompareAndSwap(peak, open) {
			return
		}
	}
}

// view runs fn in a read-only transaction. Views are not bounded as
// updates are: they add nothing to what commits check, and they do not
// wait for a sync.
func (b *Badger) view(ctx context.Context, fn func(txn *tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.txns.Add(1)
	return b.db.View(func(t *badger.Txn) error {
		run := &tx{Txn: t}
		defer func() { b.decodes.Add(int64(run.decodes)) }()
		return fn(run)
	})
}

// getJSON decodes the value at k into v; badger.ErrKeyNotFound if missing.
func getJSON(txn *tx, k []byte, v any) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	return item.Value(func(val []byte) error {
		if err := json.Unmarshal(val, v); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		return nil
	})
}

// getString returns the value at k as a string; badger.ErrKeyNotFound if
// missing.
func getString(txn *tx, k []byte) (string, error) {
	item, err := txn.Get(k)
	if err != nil {
		return "", err
	}
	v, err := item.ValueCopy(nil)
	return string(v), err
}

// exists reports whether k is present.
func exists(txn *tx, k []byte) (bool, error) {
	_, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// mustBeFree is ErrExists, naming what, when k is present.
func mustBeFree(txn *tx, k []byte, what string) error {
	taken, err := exists(txn, k)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("%s: %w", what, store.ErrExists)
	}
	return nil
}

func setJSON(txn *tx, k []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return txn.Set(k, val)
}

// notFound turns badger's missing key into ErrNotFound, naming what is
// missing; other errors pass through.
func notFound(err error, what, id string) error {
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
	}
	return err
}

// scanKeys returns the keys and values under p, in key order, at most limit
// of them (no limit when limit <= 0). It reads them all before the caller
// writes, as Badger wants no write while an iterator is open.
func scanKeys(txn *tx, p []byte, limit int) (keys, vals [][]byte, err error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if limit > 0 && len(keys) == limit {
			break
		}
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, item.KeyCopy(nil))
		vals = append(vals, v)
	}
	return keys, vals, nil
}

// anyKey reports whether any key is under p.
func anyKey(txn *tx, p []byte) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	it.Seek(p)
	return it.ValidForPrefix(p)
}

// deletePrefix deletes every key under p but those under keep (nil for
// none) as it finds them in one read, in write batches that commit as they
// fill: there is no limit on how many keys it deletes, and a reader sees
// them go a batch at a time, so it is only for keys no reader can reach
// any more. Keys written after it starts may be left.
func (b *Badger) deletePrefix(ctx context.Context, p, keep []byte) error {
	b.txns.Add(1)
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	err := b.view(ctx, func(txn *tx) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		n := 0
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			k := it.Item().KeyCopy(nil)
			if keep != nil && bytes.HasPrefix(k, keep) {
				continue
			}
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
}

// badgerLogger passes Badger's warnings and errors to slog and drops the
// rest.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
