// Package pgstore is the store kept in a PostgreSQL database, shared by any
// number of coordinator processes (replicas). It ports badgerstore method by
// method: each call loads values, asks package rules what a change means
// and persists the result in one SERIALIZABLE transaction, so every rule
// that must hold atomically holds across processes. Values are kept as the
// JSON of their Go struct in a doc column, beside the plain columns that
// queries filter, order and join on. Each committed change is sent with
// pg_notify after its commit and every replica's listener publishes it on
// its own feed (listen.go).
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PG is the store kept in a PostgreSQL database, shared by any number of
// coordinator processes.
type PG struct {
	pool *pgxpool.Pool
	feed *store.Feed
	log  *slog.Logger
	now  func() time.Time // stamps transitions of calls that carry no time

	// notes are the committed changes waiting to be sent (listen.go).
	notes notes
	// cancel stops the listener and the notifier, wg waits for them.
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// listening is the listener's connection, for tests that break it.
	listening struct {
		sync.Mutex
		pid uint32
	}
}

// Options shape a PG.
type Options struct {
	// Logger receives what the store does in the background (the
	// listener's reconnections); nil discards.
	Logger *slog.Logger
	// MaxConns is the size of the connection pool; 0 is pgxpool's default.
	MaxConns int32
}

// feedCapacity is how many changes the feed keeps for subscribers that
// fall behind: a few seconds of a busy cluster's commits.
const feedCapacity = 4096

// maxRuns bounds the runs of one transaction that keeps losing races to
// others (serialization failures, deadlocks).
const maxRuns = 30

// Open connects to the database at url, brings its schema up to date
// (migrate.go) and starts listening for the changes every replica commits.
func Open(ctx context.Context, url string, opts Options) (*PG, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &PG{pool: pool, feed: store.NewFeed(feedCapacity), log: logger, now: time.Now}
	p.notes.wake = make(chan struct{}, 1)
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := p.startListener(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return p, nil
}

// Feed is the feed on which every replica's committed changes are
// published, this one's included.
func (p *PG) Feed() *store.Feed { return p.feed }

// Close stops the listener, waits for it and closes the pool.
func (p *PG) Close() error {
	p.cancel()
	p.wg.Wait()
	p.pool.Close()
	return nil
}

// tx is one transaction with the change it makes (record with
// t.change.RecordDataset(...) etc. at each write point, as badgerstore
// does).
type tx struct {
	pgx.Tx
	change store.Change
}

// update runs fn in a SERIALIZABLE read-write transaction and commits,
// running fn again (fresh tx, fresh change) on serialization failure 40001
// or deadlock 40P01, up to maxRuns runs, each after a random wait that
// doubles (up to 100 ms) so that losers do not meet again; once it has committed, t.change
// (when not Empty) is sent on the notification channel (listen.go). fn
// must leave nothing behind outside the transaction.
func (p *PG) update(ctx context.Context, fn func(t *tx) error) error {
	return p.updateAt(ctx, pgx.Serializable, fn)
}

// updateAt is update at the isolation level iso. Only FinishUpload uses
// another level than SERIALIZABLE (finish.go says why).
func (p *PG) updateAt(ctx context.Context, iso pgx.TxIsoLevel, fn func(t *tx) error) error {
	var err error
	wait := time.Millisecond
	for range maxRuns {
		if err = p.run(ctx, pgx.TxOptions{IsoLevel: iso}, fn, true); !retryable(err) {
			return err
		}
		// Losers that run again at once meet again: spread them out.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(rand.N(wait) + time.Microsecond):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	return fmt.Errorf("transaction lost %d races in a row: %w", maxRuns, err)
}

// view runs fn in a REPEATABLE READ READ ONLY transaction (one snapshot).
func (p *PG) view(ctx context.Context, fn func(t *tx) error) error {
	return p.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn, false)
}

// run is one run of fn in a transaction of the given options.
func (p *PG) run(ctx context.Context, opts pgx.TxOptions, fn func(t *tx) error, write bool) (err error) {
	defer func() { err = unavailable(err) }()
	ptx, err := p.begin(ctx, opts)
	if err != nil {
		return err
	}
	defer ptx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	t := &tx{Tx: ptx}
	if err := fn(t); err != nil {
		return err
	}
	var payload []byte
	if write && !t.change.Empty() {
		if payload, err = encodeChange(ctx, t); err != nil {
			return err
		}
	}
	if err := ptx.Commit(ctx); err != nil {
		return err
	}
	if payload != nil {
		p.notes.add(payload)
	}
	return nil
}

// begin begins a transaction. A pooled connection that broke while idle
// (the server restarted, a proxy dropped it) fails its BEGIN and leaves
// the pool, and nothing was done: begin tries again, at most once per
// connection the pool may hold.
func (p *PG) begin(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	for i := int32(0); ; i++ {
		ptx, err := p.pool.BeginTx(ctx, opts)
		if err == nil || ctx.Err() != nil || i == p.pool.Config().MaxConns {
			return ptx, err
		}
		p.log.Debug("begin transaction again", "err", err)
	}
}

// unavailable marks an error of reaching the server (it refused or
// dropped the connection, is shutting down or starting, or the pool had no
// connection to give in time) as store.ErrUnavailable, which the API
// answers with 503; other errors it returns as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &pe):
		// 08: connection exception; 57P01-57P03: the server shuts down
		// or is not accepting connections yet.
		if !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57P0") {
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded):
	default:
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// retryable reports a transaction that lost a race and may run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// notFound turns pgx.ErrNoRows into "<what> <id>: store.ErrNotFound"
// (wrapped), other errors as they are.
func notFound(err error, what, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
	}
	return err
}

// isUnique reports a unique violation (23505).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// getDoc runs a query returning one jsonb/bytea column and decodes it as
// JSON into T; pgx.ErrNoRows when there is no row.
func getDoc[T any](ctx context.Context, q pgx.Tx, sql string, args ...any) (T, error) {
	var v T
	var doc []byte
	if err := q.QueryRow(ctx, sql, args...).Scan(&doc); err != nil {
		return v, err
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// listDocs is getDoc for many rows, in the query's order; none is an
// empty list.
func listDocs[T any](ctx context.Context, q pgx.Tx, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out := []T{}
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&doc}, func() error {
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return fmt.Errorf("decode %T: %w", v, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jsonDoc is v's JSON, for a doc column.
func jsonDoc(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// modify is one read-modify-write, in one transaction: load reads the
// stored value, fn changes it, and save checks and writes the result
// knowing the value before. load runs twice, so that what fn changes
// shares no map or slice with that value. It returns the value written.
func modify[T any](p *PG, ctx context.Context, load func(*tx) (T, error), fn func(*T) error, save func(t *tx, old T, v *T) error) (T, error) {
	var out T
	err := p.update(ctx, func(t *tx) error {
		old, err := load(t)
		if err != nil {
			return err
		}
		v, err := load(t)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		if err := save(t, old, &v); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

// errNoRows reports pgx's no-rows error.
func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// isNotFound reports store.ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
