package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// What replicas share (store/replicas.go), in 0003_replicas.sql's tables:
// channels.go, leader.go, sessions.go and failures.go. Their writes that
// race on one row (claims of an agent's channel, replicas taking a lease,
// failures counted from one address) are single statements that decide
// in the database, run by readCommitted: each waits for the row's
// concurrent writer and then acts on what it committed, so none runs out
// of retries however many race.

// maxNameBytes bounds lease names and holders, replica ids and failure
// keys, as badgerstore does.
const maxNameBytes = 256

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameBytes {
		return fmt.Errorf("%s %q: empty or over %d bytes", what, s, maxNameBytes)
	}
	return nil
}

// pruneBatch is how many rows one pruning transaction deletes.
const pruneBatch = 500

// readCommitted runs fn in a READ COMMITTED transaction and commits,
// sending t.change as update does. fn's statements must each be atomic
// alone (an upsert that increments, an update or a delete fenced by its
// WHERE, which PostgreSQL checks again on the row's newest version).
func (p *PG) readCommitted(ctx context.Context, fn func(t *tx) error) error {
	return p.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn, true)
}

// prune runs del, a DELETE of at most pruneBatch rows with the given
// arguments, until it deletes fewer, and returns how many it deleted. del
// must repeat its condition outside the subquery that picks the batch, so
// that a row changed since the batch was picked is deleted only when it
// is still due.
func (p *PG) prune(ctx context.Context, what, del string, args ...any) (int, error) {
	n := 0
	for {
		var deleted int
		err := p.readCommitted(ctx, func(t *tx) error {
			tag, err := t.Exec(ctx, del, args...)
			deleted = int(tag.RowsAffected())
			return err
		})
		if err != nil {
			return n, fmt.Errorf("prune %s: %w", what, err)
		}
		n += deleted
		if deleted < pruneBatch {
			return n, nil
		}
	}
}
