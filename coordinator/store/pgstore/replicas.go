package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"github.com/jackc/pgx/v5"
)

// What replicas share (store/replicas.go): agent_channels (who holds each
// agent's control channel, and its epoch), leader_leases, portal_sessions
// and auth_failures (migrations/0003_replicas.sql). Each write is one
// statement whose conditions decide it in the database, so concurrent
// replicas need no retry loop of their own beyond update's.

// maxNameBytes bounds lease names, holders and failure keys.
const maxNameBytes = 256

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameBytes {
		return fmt.Errorf("%s %q: empty or over %d bytes", what, s, maxNameBytes)
	}
	return nil
}

func (p *PG) ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error) {
	if err := errors.Join(rules.CheckID("agent", agentID), checkName("replica", replica)); err != nil {
		return 0, err
	}
	var epoch uint64
	err := p.update(ctx, func(t *tx) error {
		var exists bool
		if err := t.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)", agentID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("agent %s: %w", agentID, store.ErrNotFound)
		}
		err := t.QueryRow(ctx, `INSERT INTO agent_channels (agent_id, replica, epoch) VALUES ($1, $2, 1)
			ON CONFLICT (agent_id) DO UPDATE SET replica = EXCLUDED.replica, epoch = agent_channels.epoch + 1
			RETURNING epoch`, agentID, replica).Scan(&epoch)
		if err != nil {
			return err
		}
		t.change.RecordChannel(agentID, replica, epoch)
		return nil
	})
	return epoch, err
}

func (p *PG) ReleaseChannel(ctx context.Context, agentID string, epoch uint64) (bool, error) {
	if rules.LookupIDs("agent", agentID) != nil {
		return false, nil
	}
	released := false
	err := p.update(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, `UPDATE agent_channels SET replica = ''
			WHERE agent_id = $1 AND epoch = $2 AND replica <> ''`, agentID, int64(epoch))
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
	if rules.LookupIDs("agent", agentID) != nil {
		return ch, nil
	}
	var epoch int64
	err := p.pool.QueryRow(ctx, "SELECT replica, epoch FROM agent_channels WHERE agent_id = $1", agentID).Scan(&ch.Replica, &epoch)
	if errNoRows(err) {
		return ch, nil
	}
	ch.Epoch = uint64(epoch)
	return ch, unavailable(err)
}

func (p *PG) Channels(ctx context.Context) ([]store.Channel, error) {
	rows, err := p.pool.Query(ctx, "SELECT agent_id, replica, epoch FROM agent_channels WHERE replica <> '' ORDER BY agent_id")
	if err != nil {
		return nil, unavailable(err)
	}
	var out []store.Channel
	var ch store.Channel
	var epoch int64
	_, err = pgx.ForEachRow(rows, []any{&ch.AgentID, &ch.Replica, &epoch}, func() error {
		ch.Epoch = uint64(epoch)
		out = append(out, ch)
		return nil
	})
	return out, unavailable(err)
}

func (p *PG) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error) {
	if err := errors.Join(checkName("lease", name), checkName("lease holder", holder)); err != nil {
		return false, time.Time{}, err
	}
	if ttl <= 0 {
		return false, time.Time{}, fmt.Errorf("lease %s: ttl %s is not positive", name, ttl)
	}
	until := now.Add(ttl).UTC()
	var who string
	var got time.Time
	// The upsert takes a free, expired or own lease; otherwise it changes
	// nothing and the row as it is tells who has it.
	err := p.update(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, `INSERT INTO leader_leases (name, holder, until) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
			WHERE leader_leases.holder = EXCLUDED.holder OR leader_leases.until <= $4
			RETURNING holder, until`, name, holder, until, now.UTC()).Scan(&who, &got)
		if errNoRows(err) {
			return t.QueryRow(ctx, "SELECT holder, until FROM leader_leases WHERE name = $1", name).Scan(&who, &got)
		}
		return err
	})
	if err != nil {
		return false, time.Time{}, err
	}
	return who == holder, got.UTC(), nil
}

func (p *PG) ReleaseLease(ctx context.Context, name, holder string) error {
	if checkName("lease", name) != nil {
		return nil
	}
	_, err := p.pool.Exec(ctx, "DELETE FROM leader_leases WHERE name = $1 AND holder = $2", name, holder)
	return unavailable(err)
}

func (p *PG) Lease(ctx context.Context, name string) (string, time.Time, error) {
	if checkName("lease", name) != nil {
		return "", time.Time{}, nil
	}
	var holder string
	var until time.Time
	err := p.pool.QueryRow(ctx, "SELECT holder, until FROM leader_leases WHERE name = $1", name).Scan(&holder, &until)
	if errNoRows(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, unavailable(err)
	}
	return holder, until.UTC(), nil
}

// checkSessionID refuses an id that is not a SHA-256.
func checkSessionID(id []byte) error {
	if len(id) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32: %w", len(id), store.ErrNotFound)
	}
	return nil
}

func (p *PG) CreateSession(ctx context.Context, s store.Session) error {
	if len(s.ID) != 32 {
		return fmt.Errorf("session id: %d bytes, want 32", len(s.ID))
	}
	s.Created, s.Seen = s.Created.UTC(), s.Seen.UTC()
	doc, err := jsonDoc(s)
	if err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO portal_sessions (id, created, seen, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, s.ID, s.Created, s.Seen, doc)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("session: %w", store.ErrExists)
	}
	return unavailable(err)
}

func (p *PG) Session(ctx context.Context, id []byte) (store.Session, error) {
	var s store.Session
	if err := checkSessionID(id); err != nil {
		return s, err
	}
	var doc []byte
	var seen time.Time
	err := p.pool.QueryRow(ctx, "SELECT seen, doc FROM portal_sessions WHERE id = $1", id).Scan(&seen, &doc)
	if errNoRows(err) {
		return s, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return s, unavailable(err)
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		return s, err
	}
	s.Seen = seen.UTC() // TouchSession moves the column, not the document
	return s, nil
}

func (p *PG) TouchSession(ctx context.Context, id []byte, seen time.Time) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	var exists bool
	err := p.pool.QueryRow(ctx, `WITH u AS (UPDATE portal_sessions SET seen = $2 WHERE id = $1 AND seen < $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM portal_sessions WHERE id = $1)`, id, seen.UTC()).Scan(&exists)
	if err == nil && !exists {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return unavailable(err)
}

func (p *PG) DeleteSession(ctx context.Context, id []byte) error {
	if checkSessionID(id) != nil {
		return nil
	}
	_, err := p.pool.Exec(ctx, "DELETE FROM portal_sessions WHERE id = $1", id)
	return unavailable(err)
}

func (p *PG) PruneSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx, "DELETE FROM portal_sessions WHERE seen < $1 OR created < $2", seenBefore.UTC(), createdBefore.UTC())
	return int(tag.RowsAffected()), unavailable(err)
}

func (p *PG) CountFailure(ctx context.Context, k string, now time.Time, window time.Duration) (int, time.Time, error) {
	if err := checkName("failure key", k); err != nil {
		return 0, time.Time{}, err
	}
	if window <= 0 {
		return 0, time.Time{}, fmt.Errorf("failure key %s: window %s is not positive", k, window)
	}
	var n int
	var until time.Time
	// One statement: concurrent counts serialize on the row's lock and
	// each sees the one before it.
	err := p.pool.QueryRow(ctx, `INSERT INTO auth_failures (key, n, until) VALUES ($1, 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			n = CASE WHEN auth_failures.until > $2 THEN auth_failures.n + 1 ELSE 1 END,
			until = CASE WHEN auth_failures.until > $2 THEN auth_failures.until ELSE EXCLUDED.until END
		RETURNING n, until`, k, now.UTC(), now.Add(window).UTC()).Scan(&n, &until)
	if err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	return n, until.UTC(), nil
}

func (p *PG) Failures(ctx context.Context, k string, now time.Time) (int, time.Time, error) {
	if checkName("failure key", k) != nil {
		return 0, time.Time{}, nil
	}
	var n int
	var until time.Time
	err := p.pool.QueryRow(ctx, "SELECT n, until FROM auth_failures WHERE key = $1 AND until > $2", k, now.UTC()).Scan(&n, &until)
	if errNoRows(err) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	return n, until.UTC(), nil
}

func (p *PG) PruneFailures(ctx context.Context, before time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx, "DELETE FROM auth_failures WHERE until <= $1", before.UTC())
	return int(tag.RowsAffected()), unavailable(err)
}
