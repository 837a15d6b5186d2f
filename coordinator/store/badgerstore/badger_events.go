package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Agent events live under two keys each:
//
//	ev/<agent>/<at>/<id>   AgentEvent
//	evt/<at>/<agent>/<id>  nothing: events by time, for pruning
func agentEventKey(e store.AgentEvent) []byte {
	return key("ev", e.AgentID, timeHex(e.At), e.ID)
}

func agentEventTimeKey(e store.AgentEvent) []byte {
	return key("evt", timeHex(e.At), e.AgentID, e.ID)
}

func (b *Badger) AddAgentEvent(ctx context.Context, e store.AgentEvent) error {
	if err := errors.Join(rules.CheckID("agent event", e.ID), rules.CheckID("agent", e.AgentID)); err != nil {
		return err
	}
	if e.At.IsZero() {
		return fmt.Errorf("agent event %s: time is zero", e.ID)
	}
	e.At = e.At.UTC()
	return b.update(ctx, func(txn *tx) error {
		if err := mustBeFree(txn, agentEventKey(e), "agent event "+e.ID); err != nil {
			return err
		}
		if err := txn.Set(agentEventTimeKey(e), nil); err != nil {
			return err
		}
		if err := presenceEvents(txn, e); err != nil {
			return err
		}
		if rules.AgentEventChangesErrors(e) {
			_, err := applyAgentErrors(txn, e.AgentID, func(a *store.Agent, conns []store.Connection) (bool, []int) {
				return rules.AgentEventErrors(a, e, conns)
			})
			if err != nil {
				return err
			}
		}
		return setJSON(txn, agentEventKey(e), e)
	})
}

func (b *Badger) AgentEvents(ctx context.Context, agentID string) ([]store.AgentEvent, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	var out []store.AgentEvent
	err := b.view(ctx, func(txn *tx) (err error) {
		out, err = listNewest[store.AgentEvent](txn, prefix("ev", agentID), 0)
		return err
	})
	return out, err
}

func (b *Badger) PruneAgentEvents(ctx context.Context, cutoff time.Time) (int, error) {
	end := string(key("evt", timeHex(cutoff.UTC())))
	var due [][]byte
	err := b.view(ctx, func(txn *tx) error {
		p := prefix("evt")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			k := it.Item().KeyCopy(nil)
			if string(k) >= end {
				break
			}
			due = append(due, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(due) > 0 {
		batch := due[:min(len(due), 500)]
		due = due[len(batch):]
		err := b.update(ctx, func(txn *tx) error {
			for _, k := range batch {
				// evt/<at>/<agent>/<id> -> ev/<agent>/<at>/<id>
				var at, agent, id string
				if _, err := fmt.Sscanf(string(k), "evt/%16s/", &at); err != nil {
					return fmt.Errorf("agent event index key %q: %w", k, err)
				}
				rest := string(k[len("evt/")+len(at)+1:])
				agent, id = splitLast(rest)
				if err := txn.Delete(key("ev", agent, at, id)); err != nil {
					return err
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("prune agent events: %w", err)
		}
		n += len(batch)
	}
	return n, nil
}

// splitLast splits "a/b" at its last '/'; ids never hold one.
func splitLast(s string) (string, string) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}
