package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// What replicas share (store/replicas.go), under:
//
//	ch/<agent>        store.Channel: who holds the agent's control channel
//	ll/<name>         leaderLease
//	ses/<hex of id>   store.Session
//	fl/<key>          failureWindow: written by versions before failure
//	                  windows were held in memory; pruned, never read
//	dg/<agent>        store.DiagnosticsRequest: the agent's one request

func channelKey(agentID string) []byte     { return key("ch", agentID) }
func leaseKey(name string) []byte          { return key("ll", name) }
func sessionKey(id []byte) []byte          { return key("ses", hex.EncodeToString(id)) }
func failureKey(k string) []byte           { return key("fl", k) }
func diagnosticsKey(agentID string) []byte { return key("dg", agentID) }

// leaderLease is a named lease and its holder.
type leaderLease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// failureWindow is one key's window of failures.
type failureWindow struct {
	N     int       `json:"n"`
	Until time.Time `json:"until"`
}

// maxNameBytes bounds lease names and failure keys.
const maxNameBytes = 256

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameBytes {
		return fmt.Errorf("%s %q: empty or over %d bytes", what, s, maxNameBytes)
	}
	return nil
}

func (b *Badger) ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error) {
	if err := errors.Join(rules.CheckID("agent", agentID), checkName("replica", replica)); err != nil {
		return 0, err
	}
	var epoch uint64
	err := b.update(ctx, func(txn *tx) error {
		if _, err := txn.Get(agentKey(agentID)); err != nil {
			return notFound(err, "agent", agentID)
		}
		var ch store.Channel
		if err := getJSON(txn, channelKey(agentID), &ch); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		ch = store.Channel{AgentID: agentID, Replica: replica, Epoch: ch.Epoch + 1}
		epoch = ch.Epoch
		txn.change.RecordChannel(agentID, replica, epoch)
		return setJSON(txn, channelKey(agentID), ch)
	})
	return epoch, err
}

func (b *Badger) ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return false, nil
	}
	released := false
	err := b.update(ctx, func(txn *tx) error {
		released = false
		var ch store.Channel
		err := getJSON(txn, channelKey(agentID), &ch)
		if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && (ch.Epoch != epoch || ch.Replica == "")) {
			return nil
		}
		if err != nil {
			return err
		}
		ch.Replica = ""
		released = true
		txn.change.RecordChannel(agentID, "", epoch)
		return setJSON(txn, channelKey(agentID), ch)
	})
	return released, err
}

func (b *Badger) Channel(ctx context.Context, agentID string) (store.Channel, error) {
	ch := store.Channel{AgentID: agentID}
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return ch, nil
	}
	err := b.view(ctx, func(txn *tx) error {
		err := getJSON(txn, channelKey(agentID), &ch)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	return ch, err
}

func (b *Badger) Channels(ctx context.Context) ([]store.Channel, error) {
	var out []store.Channel
	err := b.view(ctx, func(txn *tx) error {
		_, vals, err := scanKeys(txn, prefix("ch"), 0)
		if err != nil {
			return err
		}
		for _, v := range vals {
			var ch store.Channel
			if err := json.Unmarshal(v, &ch); err != nil {
				return err
			}
			if ch.Replica != "" {
				out = append(out, ch)
			}
		}
		return nil
	})
	return out, err
}

func (b *Badger) ChannelCount(ctx context.Context) (int, error) {
	chans, err := b.Channels(ctx)
	return len(chans), err
}

func (b *Badger) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error) {
	if err := errors.Join(checkName("lease", name), checkName("lease holder", holder)); err != nil {
		return false, time.Time{}, err
	}
	if ttl <= 0 {
		return false, time.Time{}, fmt.Errorf("lease %s: ttl %s is not positive", name, ttl)
	}
	var held bool
	var until time.Time
	err := b.update(ctx, func(txn *tx) error {
		var l leaderLease
		if err := getJSON(txn, leaseKey(name), &l); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if l.Holder != "" && l.Holder != holder && l.Until.After(now) {
			held, until = false, l.Until
			return nil
		}
		held, until = true, now.Add(ttl).UTC()
		return setJSON(txn, leaseKey(name), leaderLease{Holder: holder, Until: until})
	})
	return held, until, err
}

func (b *Badger) ReleaseLease(ctx context.Context, name, holder string) error {
	if checkName("lease", name) != nil {
		return nil
	}
	return b.update(ctx, func(txn *tx) error {
		var l leaderLease
		err := getJSON(txn, leaseKey(name), &l)
		if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && l.Holder != holder) {
			return nil
		}
		if err != nil {
			return err
		}
		return txn.Delete(leaseKey(name))
	})
}

func (b *Badger) Lease(ctx context.Context, name string) (string, time.Time, error) {
	if checkName("lease", name) != nil {
		return "", time.Time{}, nil
	}
	var l leaderLease
	err := b.view(ctx, func(txn *tx) error {
		err := getJSON(txn, leaseKey(name), &l)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	return l.Holder, l.Until, err
}

// checkSessionID refuses an id that is not a SHA-256.
func checkSessionID(id []byte) error {
	if len(id) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32: %w", len(id), store.ErrNotFound)
	}
	return nil
}

func (b *Badger) CreateSession(ctx context.Context, s store.Session) error {
	if len(s.ID) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32", len(s.ID))
	}
	s.Created, s.Seen = s.Created.UTC(), s.Seen.UTC()
	return b.update(ctx, func(txn *tx) error {
		if err := mustBeFree(txn, sessionKey(s.ID), "session"); err != nil {
			return err
		}
		return setJSON(txn, sessionKey(s.ID), s)
	})
}

func (b *Badger) Session(ctx context.Context, id []byte) (store.Session, error) {
	var s store.Session
	if err := checkSessionID(id); err != nil {
		return s, err
	}
	err := b.view(ctx, func(txn *tx) error {
		return notFound(getJSON(txn, sessionKey(id), &s), "session", "")
	})
	return s, err
}

func (b *Badger) TouchSession(ctx context.Context, id []byte, seen time.Time) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		var s store.Session
		if err := getJSON(txn, sessionKey(id), &s); err != nil {
			return notFound(err, "session", "")
		}
		if !seen.After(s.Seen) {
			return nil
		}
		s.Seen = seen.UTC()
		return setJSON(txn, sessionKey(id), s)
	})
}

func (b *Badger) SetSessionNotes(ctx context.Context, id []byte, notes []byte) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	if len(notes) > store.MaxSessionNotes {
		return fmt.Errorf("session notes: %d bytes, over %d", len(notes), store.MaxSessionNotes)
	}
	return b.update(ctx, func(txn *tx) error {
		var s store.Session
		if err := getJSON(txn, sessionKey(id), &s); err != nil {
			return notFound(err, "session", "")
		}
		s.Notes = notes
		return setJSON(txn, sessionKey(id), s)
	})
}

func (b *Badger) DeleteSession(ctx context.Context, id []byte) error {
	if checkSessionID(id) != nil {
		return nil
	}
	return b.update(ctx, func(txn *tx) error { return txn.Delete(sessionKey(id)) })
}

func (b *Badger) PruneSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	return b.pruneWhere(ctx, prefix("ses"), func(v []byte) (bool, error) {
		var s store.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return false, err
		}
		return s.Seen.Before(seenBefore) || s.Created.Before(createdBefore), nil
	})
}

// PruneFailures ends the windows held in memory (badger_held.go) that
// ended at or before before, and deletes the windows older versions kept
// on disk (fl/).
func (b *Badger) PruneFailures(ctx context.Context, before time.Time) (int, error) {
	n := b.held.pruneFailures(before)
	m, err := b.pruneWhere(ctx, prefix("fl"), func(v []byte) (bool, error) {
		var w failureWindow
		if err := json.Unmarshal(v, &w); err != nil {
			return false, err
		}
		return !w.Until.After(before), nil
	})
	return n + m, err
}

// pruneWhere deletes the keys under p whose value due says are due, each
// checked again in the transaction that deletes it, and returns how many
// it deleted.
func (b *Badger) pruneWhere(ctx context.Context, p []byte, due func(v []byte) (bool, error)) (int, error) {
	var keys [][]byte
	err := b.view(ctx, func(txn *tx) error {
		ks, vals, err := scanKeys(txn, p, 0)
		for i := range ks {
			if ok, err := due(vals[i]); err != nil {
				return err
			} else if ok {
				keys = append(keys, ks[i])
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		deleted := 0
		err := b.update(ctx, func(txn *tx) error {
			deleted = 0
			for _, k := range batch {
				item, err := txn.Get(k)
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if ok, err := due(v); err != nil || !ok {
					continue
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
				deleted++
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("prune %s: %w", p, err)
		}
		n += deleted
	}
	return n, nil
}

func (b *Badger) RequestDiagnostics(ctx context.Context, r store.DiagnosticsRequest, pendingSince time.Time) (store.DiagnosticsRequest, error) {
	if err := errors.Join(rules.CheckID("agent", r.AgentID), checkName("request id", r.ID), checkName("replica", r.Replica)); err != nil {
		return store.DiagnosticsRequest{}, err
	}
	r.Asked, r.Answered, r.Answer = r.Asked.UTC(), time.Time{}, nil
	var out store.DiagnosticsRequest
	err := b.update(ctx, func(txn *tx) error {
		out = store.DiagnosticsRequest{}
		if _, err := txn.Get(agentKey(r.AgentID)); err != nil {
			return notFound(err, "agent", r.AgentID)
		}
		err := getJSON(txn, diagnosticsKey(r.AgentID), &out)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err == nil && out.Answered.IsZero() && out.Asked.After(pendingSince) {
			return nil // the caller shares the waiting request
		}
		out = r
		txn.change.RecordDiagnostics(r)
		return setJSON(txn, diagnosticsKey(r.AgentID), r)
	})
	return out, err
}

func (b *Badger) AnswerDiagnostics(ctx context.Context, agentID, id string, answered time.Time, answer []byte) error {
	if len(answer) > store.MaxDiagnosticsAnswer {
		return fmt.Errorf("diagnostics answer: %d bytes, over %d", len(answer), store.MaxDiagnosticsAnswer)
	}
	if rules.LookupIDs("agent", agentID) != nil {
		return fmt.Errorf("diagnostics of agent %q: %w", agentID, store.ErrNotFound)
	}
	return b.update(ctx, func(txn *tx) error {
		var r store.DiagnosticsRequest
		err := getJSON(txn, diagnosticsKey(agentID), &r)
		if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && r.ID != id) {
			return fmt.Errorf("diagnostics request %s of agent %s: %w", id, agentID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		r.Answered, r.Answer = answered.UTC(), answer
		txn.change.RecordDiagnostics(r)
		return setJSON(txn, diagnosticsKey(agentID), r)
	})
}

func (b *Badger) Diagnostics(ctx context.Context, agentID string) (store.DiagnosticsRequest, error) {
	var r store.DiagnosticsRequest
	if rules.LookupIDs("agent", agentID) != nil {
		return r, fmt.Errorf("diagnostics of agent %q: %w", agentID, store.ErrNotFound)
	}
	err := b.view(ctx, func(txn *tx) error {
		return notFound(getJSON(txn, diagnosticsKey(agentID), &r), "diagnostics of agent", agentID)
	})
	return r, err
}

func (b *Badger) PendingDiagnostics(ctx context.Context, since time.Time) ([]store.DiagnosticsRequest, error) {
	var out []store.DiagnosticsRequest
	err := b.view(ctx, func(txn *tx) error {
		out = nil
		_, vals, err := scanKeys(txn, prefix("dg"), 0)
		if err != nil {
			return err
		}
		for _, v := range vals {
			var r store.DiagnosticsRequest
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Answered.IsZero() && r.Asked.After(since) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

func (b *Badger) PruneDiagnostics(ctx context.Context, before time.Time) (int, error) {
	return b.pruneWhere(ctx, prefix("dg"), func(v []byte) (bool, error) {
		var r store.DiagnosticsRequest
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		return r.Asked.Before(before), nil
	})
}
