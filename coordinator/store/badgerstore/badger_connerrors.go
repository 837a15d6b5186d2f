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
		changed, err = agentOffline(txn, agentID, ch.Replica != "", now, after)
		return err
	})
	return changed, err
}

// agentOffline applies rules.AgentOffline to the stored agent (missing:
// nothing to do) and its connections, and stores what changed.
func agentOffline(txn *tx, agentID string, online bool, now time.Time, after time.Duration) (bool, error) {
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
	agentChanged, changed := rules.AgentOffline(&a, online, conns, now, after)
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
