package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) AddAgentEvent(ctx context.Context, e store.AgentEvent) error {
	if err := errors.Join(rules.CheckID("agent event", e.ID), rules.CheckID("agent", e.AgentID)); err != nil {
		return err
	}
	if e.At.IsZero() {
		return fmt.Errorf("agent event %s: time is zero", e.ID)
	}
	e.At = e.At.UTC()
	doc, err := jsonDoc(e)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "INSERT INTO agent_events (id, agent_id, at, doc) VALUES ($1, $2, $3, $4)", e.ID, e.AgentID, e.At, doc)
		if isUnique(err) {
			return fmt.Errorf("agent event %s: %w", e.ID, store.ErrExists)
		}
		if err != nil {
			return err
		}
		if err := presenceEvents(ctx, t, e); err != nil {
			return err
		}
		if !rules.AgentEventChangesErrors(e) {
			return nil
		}
		_, err = applyAgentErrors(ctx, t, e.AgentID, func(a *store.Agent, conns []store.Connection) (bool, []int) {
			return rules.AgentEventErrors(a, e, conns)
		})
		return err
	})
}

func (p *PG) AgentEvents(ctx context.Context, agentID string) ([]store.AgentEvent, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	var out []store.AgentEvent
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.AgentEvent](ctx, t, "SELECT doc FROM agent_events WHERE agent_id = $1 ORDER BY at DESC, id DESC", agentID)
		return err
	})
	return out, err
}

func (p *PG) PruneAgentEvents(ctx context.Context, cutoff time.Time) (int, error) {
	var n int
	err := p.update(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, "DELETE FROM agent_events WHERE at < $1", cutoff.UTC())
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune agent events: %w", err)
	}
	return n, nil
}
