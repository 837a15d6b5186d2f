package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Upload slots and refusal windows (0005_counts.sql) need no durability:
// their tables are UNLOGGED and their transactions commit without waiting
// for the disk, so that an upload or a refused call costs no flush. Each
// write is a single statement that decides in the database, or a few run
// one after another in one READ COMMITTED transaction, each waiting for
// its row's concurrent writer, as the channels' and failures' do.

// held runs fn in a READ COMMITTED transaction whose commit does not wait
// for the disk.
func (p *PG) held(ctx context.Context, fn func(t *tx) error) error {
	return p.readCommitted(ctx, func(t *tx) error {
		if _, err := t.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		return fn(t)
	})
}

// TakeUploadSlot tries the slots in order, each with one upsert that
// takes it only when free: a concurrent take of the same slot waits for
// the row and then finds it held.
func (p *PG) TakeUploadSlot(ctx context.Context, agentID string, limit int, now time.Time, ttl time.Duration) (string, error) {
	if err := rules.CheckUploadSlot(agentID, limit, ttl); err != nil {
		return "", err
	}
	token := uuid.NewString()
	took := false
	err := p.held(ctx, func(t *tx) error {
		for slot := range limit {
			tag, err := t.Exec(ctx, `INSERT INTO upload_slots (agent_id, slot, token, until) VALUES ($1, $2, $3, $4)
				ON CONFLICT (agent_id, slot) DO UPDATE SET token = EXCLUDED.token, until = EXCLUDED.until
				WHERE upload_slots.until <= $5`, agentID, slot, token, now.Add(ttl), now)
			if err != nil {
				return err
			}
			if took = tag.RowsAffected() == 1; took {
				return nil
			}
		}
		return nil
	})
	if err != nil || !took {
		return "", err
	}
	return token, nil
}

func (p *PG) ReturnUploadSlot(ctx context.Context, agentID, token string) error {
	return p.held(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "DELETE FROM upload_slots WHERE agent_id = $1 AND token = $2", agentID, token)
		return err
	})
}

// CountRefusal opens a window or counts in it in one upsert: a window is
// reopened only when it ended counting nothing after its first refusal.
func (p *PG) CountRefusal(ctx context.Context, agentID, remote, what string, now time.Time, every time.Duration) (bool, error) {
	if err := rules.CheckID("agent", agentID); err != nil {
		return false, err
	}
	if every <= 0 {
		return false, fmt.Errorf("refusals: window %s is not positive", every)
	}
	var n int
	err := p.held(ctx, func(t *tx) error {
		return t.QueryRow(ctx, `INSERT INTO refusal_windows AS w (agent_id, since, until, n, last, remote)
			VALUES ($1, $2, $3, 0, '', '')
			ON CONFLICT (agent_id) DO UPDATE SET
				since = CASE WHEN w.until <= $2 AND w.n = 0 THEN $2 ELSE w.since END,
				until = CASE WHEN w.until <= $2 AND w.n = 0 THEN $3 ELSE w.until END,
				n = CASE WHEN w.until <= $2 AND w.n = 0 THEN 0 ELSE w.n + 1 END,
				last = CASE WHEN w.until <= $2 AND w.n = 0 THEN '' ELSE $4 END,
				remote = CASE WHEN w.until <= $2 AND w.n = 0 THEN '' ELSE $5 END
			RETURNING n`, agentID, now, now.Add(every), what, remote).Scan(&n)
	})
	return err == nil && n == 0, err
}

// TakeRefusals locks the ended windows it takes: a concurrent take waits,
// then finds them reopened or gone.
func (p *PG) TakeRefusals(ctx context.Context, now time.Time, every time.Duration) ([]store.Refusals, error) {
	if every <= 0 {
		return nil, fmt.Errorf("refusals: window %s is not positive", every)
	}
	var out []store.Refusals
	err := p.held(ctx, func(t *tx) error {
		out = nil
		if _, err := t.Exec(ctx, "DELETE FROM refusal_windows WHERE until <= $1 AND n = 0", now); err != nil {
			return err
		}
		rows, err := t.Query(ctx, `UPDATE refusal_windows w
			SET since = o.until, until = o.until + $2 * interval '1 microsecond', n = 0, last = '', remote = ''
			FROM (SELECT agent_id, since, until, n, last, remote FROM refusal_windows
				WHERE until <= $1 AND n > 0 ORDER BY agent_id FOR UPDATE) o
			WHERE w.agent_id = o.agent_id
			RETURNING o.agent_id, o.since, o.n, o.last, o.remote`, now, every.Microseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.Refusals
			if err := rows.Scan(&r.AgentID, &r.Since, &r.N, &r.Last, &r.Remote); err != nil {
				return err
			}
			r.Since = r.Since.UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Refusals) int { return a.Since.Compare(b.Since) })
	return out, nil
}
