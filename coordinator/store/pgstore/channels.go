package pgstore

import (
	"context"
	"errors"
	"math"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// ClaimChannel increments the epoch in the upsert itself: a concurrent
// claim waits for the row, and the one that commits last has the highest
// epoch.
func (p *PG) ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error) {
	if err := errors.Join(rules.CheckID("agent", agentID), checkName("replica", replica)); err != nil {
		return 0, err
	}
	var epoch uint64
	err := p.readCommitted(ctx, func(t *tx) error {
		var one int
		if err := t.QueryRow(ctx, "SELECT 1 FROM agents WHERE id = $1", agentID).Scan(&one); err != nil {
			return notFound(err, "agent", agentID)
		}
		err := t.QueryRow(ctx, `INSERT INTO channels (agent_id, replica, epoch) VALUES ($1, $2, 1)
			ON CONFLICT (agent_id) DO UPDATE SET replica = EXCLUDED.replica, epoch = channels.epoch + 1
			RETURNING epoch`, agentID, replica).Scan(&epoch)
		if err != nil {
			return err
		}
		t.change.RecordChannel(agentID, replica, epoch)
		return nil
	})
	return epoch, err
}

// ReleaseChannel is fenced by its WHERE, which a concurrent claim's new
// epoch fails.
func (p *PG) ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil || epoch > math.MaxInt64 {
		return false, nil // no claim has that epoch
	}
	released := false
	err := p.readCommitted(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, "UPDATE channels SET replica = '' WHERE agent_id = $1 AND epoch = $2 AND replica <> ''",
			agentID, epoch)
		if err != nil {
			return err
		}
		released = tag.RowsAffected() == 1
		if released {
			t.change.RecordChannel(agentID, "", epoch)
		}
		return nil
	})
	return released, err
}

func (p *PG) Channel(ctx context.Context, agentID string) (store.Channel, error) {
	ch := store.Channel{AgentID: agentID}
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return ch, nil
	}
	err := p.view(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, "SELECT replica, epoch FROM channels WHERE agent_id = $1", agentID).Scan(&ch.Replica, &ch.Epoch)
		if errNoRows(err) {
			return nil
		}
		return err
	})
	return ch, err
}

func (p *PG) Channels(ctx context.Context) ([]store.Channel, error) {
	var out []store.Channel
	err := p.view(ctx, func(t *tx) error {
		out = nil
		rows, err := t.Query(ctx, "SELECT agent_id, replica, epoch FROM channels WHERE replica <> '' ORDER BY agent_id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ch store.Channel
			if err := rows.Scan(&ch.AgentID, &ch.Replica, &ch.Epoch); err != nil {
				return err
			}
			out = append(out, ch)
		}
		return rows.Err()
	})
	return out, err
}

func (p *PG) ChannelCount(ctx context.Context) (int, error) {
	var n int
	err := p.view(ctx, func(t *tx) error {
		return t.QueryRow(ctx, "SELECT count(*) FROM channels WHERE replica <> ''").Scan(&n)
	})
	return n, err
}
