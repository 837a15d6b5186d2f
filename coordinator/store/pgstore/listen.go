package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"

	"github.com/jackc/pgx/v5"
)

// The change feed across replicas
//
// A transaction that changes what the feed's subscribers act on calls
// pg_notify on the channel ferry_changes before it commits, with the
// change as JSON; PostgreSQL delivers the notification at commit, in
// commit order, to every session listening. Each PG holds one such session
// on a connection of its own, outside the pool, and publishes what it
// receives on its feed: every replica's subscribers see the commits of
// every replica, their own included, and a write's change reaches the
// local feed within a round trip of its commit. When the session breaks,
// the listener connects again and then reports a gap on the feed (Lost):
// what was committed meanwhile never arrives, so the subscribers read the
// store afresh.

// changesChannel is the notification channel of the change feed.
const changesChannel = "ferry_changes"

// maxPayload bounds a notification's payload (PostgreSQL's limit is 8000
// bytes); a larger change goes into ferry_change_overflow and the payload
// names its row.
const maxPayload = 7000

// overflowKept is how long a row of ferry_change_overflow is kept for the
// listeners to read; overflowSweep is how often each PG sweeps older ones.
const (
	overflowKept  = time.Hour
	overflowSweep = 10 * time.Minute
)

// wireChange is a Change as a notification carries it: no Seq nor At,
// which each feed sets, or only the id of its overflow row.
type wireChange struct {
	Datasets      []store.DatasetChange    `json:",omitempty"`
	Connections   []store.ConnectionChange `json:",omitempty"`
	RevokedAgents []string                 `json:",omitempty"`
	Channels      []store.ChannelChange    `json:",omitempty"`
	Deliveries    int                      `json:",omitempty"`
	SyncDue       time.Time                `json:",omitzero"`
	Overflow      int64                    `json:",omitempty"`
}

// notify sends t's change on the change channel, in t.
func notify(ctx context.Context, t *tx) error {
	c := t.change
	payload, err := json.Marshal(wireChange{Datasets: c.Datasets, Connections: c.Connections,
		RevokedAgents: c.RevokedAgents, Channels: c.Channels, Deliveries: c.Deliveries, SyncDue: c.SyncDue})
	if err != nil {
		return fmt.Errorf("encode change: %w", err)
	}
	if len(payload) > maxPayload {
		var id int64
		err := t.QueryRow(ctx, "INSERT INTO ferry_change_overflow (body) VALUES ($1) RETURNING id", payload).Scan(&id)
		if err != nil {
			return fmt.Errorf("store large change: %w", err)
		}
		if payload, err = json.Marshal(wireChange{Overflow: id}); err != nil {
			return err
		}
	}
	if _, err := t.Exec(ctx, "SELECT pg_notify($1, $2)", changesChannel, string(payload)); err != nil {
		return fmt.Errorf("notify change: %w", err)
	}
	return nil
}

// startListener opens the listening session, so that every commit after
// Open returns reaches the feed, and starts the goroutines that own it and
// sweep the overflow.
func (p *PG) startListener(ctx context.Context) error {
	conn, err := p.listen(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.runListenLoop(lctx, conn)
	}()
	go func() {
		defer p.wg.Done()
		p.runSweepLoop(lctx)
	}()
	return nil
}

// listen opens a connection of its own (not the pool's) and listens on the
// change channel.
func (p *PG) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	p.listening.Lock()
	p.listening.pid = conn.PgConn().PID()
	p.listening.Unlock()
	return conn, nil
}

// runListenLoop publishes the notifications received on conn until ctx
// ends; when the session breaks it connects again, with backoff, and
// reports the gap.
func (p *PG) runListenLoop(ctx context.Context, conn *pgx.Conn) {
	for {
		err := p.receive(ctx, conn)
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("change feed: listening session lost; reconnecting", "err", err)
		if conn = p.relisten(ctx); conn == nil {
			return
		}
		p.feed.Lost()
		p.log.Info("change feed: listening again; subscribers resynchronise")
	}
}

// receive publishes each notification received on conn, in order, until
// the session breaks or ctx ends.
func (p *PG) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c, err := p.decode(ctx, []byte(n.Payload))
		if err != nil {
			// What it changed is unknown: subscribers must read the store.
			p.log.Error("change feed: unreadable change", "err", err)
			p.feed.Lost()
			continue
		}
		p.feed.Publish(c)
	}
}

// decode turns a notification's payload into the change it carries,
// reading its overflow row when it names one.
func (p *PG) decode(ctx context.Context, payload []byte) (store.Change, error) {
	var w wireChange
	if err := json.Unmarshal(payload, &w); err != nil {
		return store.Change{}, fmt.Errorf("decode change: %w", err)
	}
	if w.Overflow != 0 {
		var body []byte
		err := p.pool.QueryRow(ctx, "SELECT body FROM ferry_change_overflow WHERE id = $1", w.Overflow).Scan(&body)
		if err != nil {
			return store.Change{}, fmt.Errorf("read large change %d: %w", w.Overflow, err)
		}
		w = wireChange{}
		if err := json.Unmarshal(body, &w); err != nil {
			return store.Change{}, fmt.Errorf("decode large change %d: %w", w.Overflow, err)
		}
	}
	return store.Change{Datasets: w.Datasets, Connections: w.Connections, RevokedAgents: w.RevokedAgents,
		Channels: w.Channels, Deliveries: w.Deliveries, SyncDue: w.SyncDue}, nil
}

// relisten connects again until it succeeds, waiting longer between tries
// (from 50 ms to 5 s, with jitter); nil when ctx ends first.
func (p *PG) relisten(ctx context.Context) *pgx.Conn {
	wait := 50 * time.Millisecond
	for {
		conn, err := p.listen(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("change feed: reconnect", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait/2 + rand.N(wait/2+1)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// runSweepLoop deletes the overflow rows every listener has had time to
// read, until ctx ends.
func (p *PG) runSweepLoop(ctx context.Context) {
	tick := time.NewTicker(overflowSweep)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := p.pool.Exec(ctx, "DELETE FROM ferry_change_overflow WHERE created < now() - make_interval(secs => $1)", overflowKept.Seconds())
		if err != nil && !errors.Is(err, context.Canceled) {
			p.log.Warn("change feed: sweep large changes", "err", err)
		}
	}
}

// listenerPID is the server process id of the listening session.
func (p *PG) listenerPID() uint32 {
	p.listening.Lock()
	defer p.listening.Unlock()
	return p.listening.pid
}
