package pgstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) CheckAgentOffline(ctx context.Context, agentID string, now time.Time, after time.Duration) (bool, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return false, err
	}
	var changed bool
	err := p.update(ctx, func(t *tx) error {
		var replica string
		err := t.QueryRow(ctx, "SELECT replica FROM channels WHERE agent_id = $1", agentID).Scan(&replica)
		if err != nil && !errNoRows(err) {
			return err
		}
		changed, err = applyAgentErrors(ctx, t, agentID, func(a *store.Agent, conns []store.Connection) (bool, []int) {
			return rules.AgentOffline(a, replica != "", conns, now, after)
		})
		return err
	})
	return changed, err
}

// applyAgentErrors applies rule (rules.AgentOffline, rules.AgentEventErrors)
// to the stored agent (missing: nothing to do) and the connections bound
// to it, and stores what changed.
func applyAgentErrors(ctx context.Context, t *tx, agentID string, rule func(*store.Agent, []store.Connection) (bool, []int)) (bool, error) {
	a, err := getAgent(ctx, t, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE agent_id = $1 ORDER BY created, id", agentID)
	if err != nil {
		return false, err
	}
	was := slices.Clone(conns)
	old := a
	agentChanged, changed := rule(&a, conns)
	for _, i := range changed {
		if err := putConnection(ctx, t, &was[i], conns[i]); err != nil {
			return false, err
		}
	}
	if agentChanged {
		if err := putAgent(ctx, t, &old, a); err != nil {
			return false, err
		}
	}
	return agentChanged || len(changed) > 0, nil
}

// bookErrors raises or resolves the book errors of d's connection
// (rules.BookErrors) when d's change from old says something of its book.
func bookErrors(ctx context.Context, t *tx, old, d *store.Dataset) error {
	if !rules.TouchesBook(old, d) {
		return nil
	}
	c, err := connectionByID(ctx, t, d.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	was := c
	if !rules.BookErrors(&c, old, d) {
		return nil
	}
	return putConnection(ctx, t, &was, c)
}
