package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes the lease in one upsert whose WHERE lets it replace
// only an expired lease or holder's own: of replicas racing for a free
// lease, the first insert wins and the others, waiting on it, find it
// held. The until of a lease it does not take is read after, by a
// statement that sees what the winner committed.
func (p *PG) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error) {
	if err := errors.Join(checkName("lease", name), checkName("lease holder", holder)); err != nil {
		return false, time.Time{}, err
	}
	if ttl <= 0 {
		return false, time.Time{}, fmt.Errorf("lease %s: ttl %s is not positive", name, ttl)
	}
	want := now.Add(ttl).UTC()
	var held bool
	var until time.Time
	err := p.readCommitted(ctx, func(t *tx) error {
		held, until = false, time.Time{}
		err := t.QueryRow(ctx, `INSERT INTO leader_leases (name, holder, until) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
			WHERE leader_leases.holder = EXCLUDED.holder OR leader_leases.until <= $4
			RETURNING true`, name, holder, want, now).Scan(&held)
		if !errNoRows(err) {
			until = want
			return err
		}
		// Not taken: the upsert locked the holder's row, which stays as read.
		if err := t.QueryRow(ctx, "SELECT until FROM leader_leases WHERE name = $1", name).Scan(&until); err != nil {
			return fmt.Errorf("lease %s: %w", name, err)
		}
		until = until.UTC()
		return nil
	})
	if err != nil {
		return false, time.Time{}, err
	}
	return held, until, nil
}

func (p *PG) ReleaseLease(ctx context.Context, name, holder string) error {
	if checkName("lease", name) != nil {
		return nil
	}
	return p.readCommitted(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "DELETE FROM leader_leases WHERE name = $1 AND holder = $2", name, holder)
		return err
	})
}

func (p *PG) Lease(ctx context.Context, name string) (string, time.Time, error) {
	if checkName("lease", name) != nil {
		return "", time.Time{}, nil
	}
	var holder string
	var until time.Time
	err := p.view(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, "SELECT holder, until FROM leader_leases WHERE name = $1", name).Scan(&holder, &until)
		if errNoRows(err) {
			holder, until = "", time.Time{}
			return nil
		}
		return err
	})
	if err != nil || holder == "" {
		return "", time.Time{}, err
	}
	return holder, until.UTC(), nil
}
