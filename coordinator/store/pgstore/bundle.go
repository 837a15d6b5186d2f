package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) RequestBundle(ctx context.Context, b store.SupportBundle) error {
	if err := errors.Join(rules.CheckID("agent", b.AgentID), rules.CheckID("bundle", b.ID)); err != nil {
		return err
	}
	b.Requested = b.Requested.UTC()
	return p.readCommitted(ctx, func(t *tx) error {
		var one int
		if err := t.QueryRow(ctx, "SELECT 1 FROM agents WHERE id = $1", b.AgentID).Scan(&one); err != nil {
			return notFound(err, "agent", b.AgentID)
		}
		_, err := t.Exec(ctx, "INSERT INTO support_bundles (agent_id, id, requested) VALUES ($1, $2, $3)",
			b.AgentID, b.ID, b.Requested)
		if isUnique(err) {
			return fmt.Errorf("bundle %s: %w", b.ID, store.ErrExists)
		}
		if err != nil {
			return err
		}
		t.change.RecordBundle(b)
		return nil
	})
}

func (p *PG) PutBundle(ctx context.Context, agentID, id string, uploaded time.Time, archive []byte) error {
	if len(archive) > store.MaxBundleBytes {
		return fmt.Errorf("bundle archive: %d bytes, over %d", len(archive), store.MaxBundleBytes)
	}
	if rules.LookupIDs("agent", agentID, "bundle", id) != nil {
		return fmt.Errorf("bundle %q: %w", id, store.ErrNotFound)
	}
	return p.readCommitted(ctx, func(t *tx) error {
		var done bool
		err := t.QueryRow(ctx, "SELECT uploaded IS NOT NULL FROM support_bundles WHERE agent_id = $1 AND id = $2 FOR UPDATE",
			agentID, id).Scan(&done)
		if err != nil {
			return notFound(err, "bundle", id)
		}
		if done {
			return fmt.Errorf("bundle %s: archive %w", id, store.ErrExists)
		}
		_, err = t.Exec(ctx, "UPDATE support_bundles SET uploaded = $3, size = $4, archive = $5 WHERE agent_id = $1 AND id = $2",
			agentID, id, uploaded.UTC(), len(archive), archive)
		return err
	})
}

func (p *PG) Bundles(ctx context.Context, agentID string) ([]store.SupportBundle, error) {
	var out []store.SupportBundle
	err := p.view(ctx, func(t *tx) error {
		out = nil
		rows, err := t.Query(ctx, `SELECT id, requested, uploaded, size FROM support_bundles
			WHERE agent_id = $1 ORDER BY requested DESC, id`, agentID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b := store.SupportBundle{AgentID: agentID}
			var uploaded *time.Time
			if err := rows.Scan(&b.ID, &b.Requested, &uploaded, &b.Size); err != nil {
				return err
			}
			b.Requested = b.Requested.UTC()
			if uploaded != nil {
				b.Uploaded = uploaded.UTC()
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}

func (p *PG) BundleArchive(ctx context.Context, agentID, id string) (store.SupportBundle, []byte, error) {
	b := store.SupportBundle{AgentID: agentID, ID: id}
	var archive []byte
	if rules.LookupIDs("agent", agentID, "bundle", id) != nil {
		return b, nil, fmt.Errorf("bundle %q: %w", id, store.ErrNotFound)
	}
	err := p.view(ctx, func(t *tx) error {
		var uploaded *time.Time
		err := t.QueryRow(ctx, "SELECT requested, uploaded, size, archive FROM support_bundles WHERE agent_id = $1 AND id = $2",
			agentID, id).Scan(&b.Requested, &uploaded, &b.Size, &archive)
		if err != nil {
			return notFound(err, "bundle", id)
		}
		if uploaded == nil {
			return fmt.Errorf("archive of bundle %s: %w", id, store.ErrNotFound)
		}
		b.Requested, b.Uploaded = b.Requested.UTC(), uploaded.UTC()
		return nil
	})
	return b, archive, err
}

func (p *PG) PruneBundles(ctx context.Context, before time.Time) (int, error) {
	return p.prune(ctx, "support bundles", `DELETE FROM support_bundles WHERE (agent_id, id) IN
			(SELECT agent_id, id FROM support_bundles WHERE requested < $1 LIMIT $2)`, before.UTC(), pruneBatch)
}
