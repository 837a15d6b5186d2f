package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// RequestDiagnostics replaces the agent's row in one upsert whose WHERE
// keeps a request still waiting: a concurrent request waits for the row
// and then shares the one that committed first.
func (p *PG) RequestDiagnostics(ctx context.Context, r store.DiagnosticsRequest, pendingSince time.Time) (store.DiagnosticsRequest, error) {
	if err := errors.Join(rules.CheckID("agent", r.AgentID), checkName("request id", r.ID), checkName("replica", r.Replica)); err != nil {
		return store.DiagnosticsRequest{}, err
	}
	r.Asked, r.Answered, r.Answer = r.Asked.UTC(), time.Time{}, nil
	var out store.DiagnosticsRequest
	err := p.readCommitted(ctx, func(t *tx) error {
		var one int
		if err := t.QueryRow(ctx, "SELECT 1 FROM agents WHERE id = $1", r.AgentID).Scan(&one); err != nil {
			return notFound(err, "agent", r.AgentID)
		}
		tag, err := t.Exec(ctx, `INSERT INTO diagnostics (agent_id, id, replica, asked) VALUES ($1, $2, $3, $4)
			ON CONFLICT (agent_id) DO UPDATE SET id = EXCLUDED.id, replica = EXCLUDED.replica, asked = EXCLUDED.asked,
				answered = NULL, answer = NULL
			WHERE diagnostics.answered IS NOT NULL OR diagnostics.asked <= $5`,
			r.AgentID, r.ID, r.Replica, r.Asked, pendingSince.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			out = r
			t.change.RecordDiagnostics(r)
			return nil
		}
		out, err = getDiagnostics(ctx, t, r.AgentID) // the row the upsert left locked
		return err
	})
	return out, err
}

func getDiagnostics(ctx context.Context, t *tx, agentID string) (store.DiagnosticsRequest, error) {
	r := store.DiagnosticsRequest{AgentID: agentID}
	var answered *time.Time
	err := t.QueryRow(ctx, "SELECT id, replica, asked, answered, answer FROM diagnostics WHERE agent_id = $1", agentID).
		Scan(&r.ID, &r.Replica, &r.Asked, &answered, &r.Answer)
	if err != nil {
		return store.DiagnosticsRequest{}, notFound(err, "diagnostics of agent", agentID)
	}
	r.Asked = r.Asked.UTC()
	if answered != nil {
		r.Answered = answered.UTC()
	}
	return r, nil
}

func (p *PG) AnswerDiagnostics(ctx context.Context, agentID, id string, answered time.Time, answer []byte) error {
	if len(answer) > store.MaxDiagnosticsAnswer {
		return fmt.Errorf("diagnostics answer: %d bytes, over %d", len(answer), store.MaxDiagnosticsAnswer)
	}
	if rules.LookupIDs("agent", agentID) != nil {
		return fmt.Errorf("diagnostics of agent %q: %w", agentID, store.ErrNotFound)
	}
	return p.readCommitted(ctx, func(t *tx) error {
		var r store.DiagnosticsRequest
		err := t.QueryRow(ctx, `UPDATE diagnostics SET answered = $3, answer = $4 WHERE agent_id = $1 AND id = $2
			RETURNING replica`, agentID, id, answered.UTC(), answer).Scan(&r.Replica)
		if errNoRows(err) {
			return fmt.Errorf("diagnostics request %s of agent %s: %w", id, agentID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		r.AgentID, r.ID, r.Answered = agentID, id, answered
		t.change.RecordDiagnostics(r)
		return nil
	})
}

func (p *PG) Diagnostics(ctx context.Context, agentID string) (store.DiagnosticsRequest, error) {
	var r store.DiagnosticsRequest
	if rules.LookupIDs("agent", agentID) != nil {
		return r, fmt.Errorf("diagnostics of agent %q: %w", agentID, store.ErrNotFound)
	}
	err := p.view(ctx, func(t *tx) (err error) {
		r, err = getDiagnostics(ctx, t, agentID)
		return err
	})
	return r, err
}

func (p *PG) PendingDiagnostics(ctx context.Context, since time.Time) ([]store.DiagnosticsRequest, error) {
	var out []store.DiagnosticsRequest
	err := p.view(ctx, func(t *tx) error {
		out = nil
		rows, err := t.Query(ctx, `SELECT agent_id, id, replica, asked FROM diagnostics
			WHERE answered IS NULL AND asked > $1 ORDER BY agent_id`, since.UTC())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.DiagnosticsRequest
			if err := rows.Scan(&r.AgentID, &r.ID, &r.Replica, &r.Asked); err != nil {
				return err
			}
			r.Asked = r.Asked.UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

func (p *PG) PruneDiagnostics(ctx context.Context, before time.Time) (int, error) {
	return p.prune(ctx, "diagnostics", `DELETE FROM diagnostics WHERE agent_id IN
			(SELECT agent_id FROM diagnostics WHERE asked < $1 LIMIT $2)
		AND asked < $1`, before.UTC(), pruneBatch)
}
