package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (b *Badger) CheckAgentOffline(ctx context.Context, agentID string, now time.Time, after time.Duration) (bool, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return false, err
	}
	var changed bool
	err := b.update(ctx, func(txn *tx) error {
		var ch store.Channel
		err := getJSON(txn, channelKey(agentID), &ch)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		changed, err = applyAgentErrors(txn, agentID, func(a *store.Agent, conns []store.Connection) (bool, []int) {
			return rules.AgentOffline(a, ch.Replica != "", conns, now, after)
		})
		return err
	})
	return changed, err
}

// applyAgentErrors applies rule (rules.AgentOffline, rules.AgentEventErrors)
// to the stored agent (missing: nothing to do) and the connections bound
// to it, and stores what changed.
func applyAgentErrors(txn *tx, agentID string, rule func(*store.Agent, []store.Connection) (bool, []int)) (bool, error) {
	a, err := getAgent(txn, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	conns, err := listIndex(txn, prefix("ac", agentID), func(id string, co []byte) (store.Connection, error) {
		return skipMissing(getConnection(txn, string(co), id))
	})
	if err != nil {
		return false, err
	}
	old := a
	agentChanged, changed := rule(&a, conns)
	for _, i := range changed {
		was, err := getConnection(txn, conns[i].CompanyID, conns[i].ID)
		if err != nil {
			return false, err
		}
		if err := putConnection(txn, &was, conns[i]); err != nil {
			return false, err
		}
	}
	if agentChanged {
		if err := putAgent(txn, &old, a); err != nil {
			return false, err
		}
	}
	return agentChanged || len(changed) > 0, nil
}
