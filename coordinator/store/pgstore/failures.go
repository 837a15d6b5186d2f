package pgstore

import (
	"context"
	"fmt"
	"time"
)

// CountFailure counts in one upsert: concurrent failures of one key wait
// for each other's row and are all counted, however many an address
// sends at once.
func (p *PG) CountFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	if err := checkName("failure key", key); err != nil {
		return 0, time.Time{}, err
	}
	if window <= 0 {
		return 0, time.Time{}, fmt.Errorf("failure key %s: window %s is not positive", key, window)
	}
	var n int
	var until time.Time
	err := p.readCommitted(ctx, func(t *tx) error {
		return t.QueryRow(ctx, `INSERT INTO failures (key, n, until) VALUES ($1, 1, $3)
			ON CONFLICT (key) DO UPDATE SET
				n = CASE WHEN failures.until > $2 THEN failures.n + 1 ELSE 1 END,
				until = CASE WHEN failures.until > $2 THEN failures.until ELSE EXCLUDED.until END
			RETURNING n, until`, key, now, now.Add(window).UTC()).Scan(&n, &until)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, until.UTC(), nil
}

func (p *PG) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	if checkName("failure key", key) != nil {
		return 0, time.Time{}, nil
	}
	var n int
	var until time.Time
	err := p.view(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, "SELECT n, until FROM failures WHERE key = $1", key).Scan(&n, &until)
		if errNoRows(err) {
			return nil
		}
		return err
	})
	if err != nil || !until.After(now) {
		return 0, time.Time{}, err
	}
	return n, until.UTC(), nil
}

func (p *PG) PruneFailures(ctx context.Context, before time.Time) (int, error) {
	return p.prune(ctx, "failures", `DELETE FROM failures WHERE key IN
			(SELECT key FROM failures WHERE until <= $1 LIMIT $2)
		AND until <= $1`, before.UTC(), pruneBatch)
}
