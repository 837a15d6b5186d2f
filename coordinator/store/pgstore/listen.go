package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"

	"github.com/jackc/pgx/v5"
)

// The change feed across replicas
//
// Once a transaction that changes what the feed's subscribers act on has
// committed, its change is sent as JSON with pg_notify on the channel
// ferry_changes; PostgreSQL delivers notifications to every session
// listening, in the order they were sent. Each PG holds one such session on
// a connection of its own, outside the pool, and publishes what it
// receives on its feed: every replica's subscribers see the commits of
// every replica, their own included, and a write's change reaches the
// local feed within a round trip or two of its commit. When the session
// breaks, the listener connects again and then reports a gap on the feed
// (Lost): what was committed meanwhile never arrives, so the subscribers
// read the store afresh.
//
// The notification is sent after the commit, not inside the transaction:
// PostgreSQL commits the transactions that notify one at a time, disk
// flush included, which held a replica to about 6 commits of the dataset
// lifecycle per flush (BenchmarkLifecycle, 46 datasets/s against 278
// notifying commits/s). One goroutine, the notifier, sends the waiting
// changes in batches, one statement and one commit a batch, on a
// connection of its own whose commits do not wait for the disk (a
// notification needs no durability: the data it names is committed). A
// replica that stops between a commit and its notification leaves the
// other replicas to notice the change by their sweeps (the hub's offer
// sweep, the dispatcher's and the scheduler's periodic reads): a lost
// notification costs latency, never data.

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
	Datasets      []store.DatasetChange     `json:",omitempty"`
	Connections   []store.ConnectionChange  `json:",omitempty"`
	RevokedAgents []string                  `json:",omitempty"`
	NewAgents     []string                  `json:",omitempty"`
	Deliveries    int                       `json:",omitempty"`
	SyncDue       time.Time                 `json:",omitzero"`
	Channels      []store.ChannelChange     `json:",omitempty"`
	Diagnostics   []store.DiagnosticsChange `json:",omitempty"`
	Bundles       []store.BundleChange      `json:",omitempty"`
	LogLevels     []store.LogLevelChange    `json:",omitempty"`
	Updates       []store.UpdateChange      `json:",omitempty"`
	SyncWindows   bool                      `json:",omitempty"`
	Overflow      int64                     `json:",omitempty"`
}

// encodeChange is t's change as a notification's payload; a change too
// large for one is stored in ferry_change_overflow, in t, and the payload
// names its row.
func encodeChange(ctx context.Context, t *tx) ([]byte, error) {
	c := t.change
	payload, err := json.Marshal(wireChange{Datasets: c.Datasets, Connections: c.Connections,
		RevokedAgents: c.RevokedAgents, NewAgents: c.NewAgents, Deliveries: c.Deliveries, SyncDue: c.SyncDue, Channels: c.Channels,
		Diagnostics: c.Diagnostics, Bundles: c.Bundles, LogLevels: c.LogLevels, Updates: c.Updates, SyncWindows: c.SyncWindows})
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	if len(payload) <= maxPayload {
		return payload, nil
	}
	var id int64
	if err := t.QueryRow(ctx, "INSERT INTO ferry_change_overflow (body) VALUES ($1) RETURNING id", payload).Scan(&id); err != nil {
		return nil, fmt.Errorf("store large change: %w", err)
	}
	return json.Marshal(wireChange{Overflow: id})
}

// notes are the payloads of committed changes waiting for the notifier.
type notes struct {
	mu      sync.Mutex
	pending [][]byte
	// wake has room for one signal: the notifier has something to send.
	wake chan struct{}
}

// maxNotesBatch bounds the notifications sent in one statement.
const maxNotesBatch = 256

func (n *notes) add(payload []byte) {
	n.mu.Lock()
	n.pending = append(n.pending, payload)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// take removes and returns up to maxNotesBatch waiting payloads, oldest
// first, and none equal to another: PostgreSQL delivers one of the
// identical notifications a transaction sends (two asks of the same
// update, say), so the second waits for the next batch.
func (n *notes) take() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := min(len(n.pending), maxNotesBatch)
	seen := make(map[string]bool, k)
	for i, p := range n.pending[:k] {
		if seen[string(p)] {
			k = i
			break
		}
		seen[string(p)] = true
	}
	batch := n.pending[:k:k]
	n.pending = n.pending[k:]
	if len(n.pending) == 0 {
		n.pending = nil
	}
	return batch
}

// runNotifyLoop sends the committed changes until ctx ends, then what is
// left, for a moment. A batch whose sending fails is sent again on a new
// connection (a change delivered twice does no harm); when that fails too
// the local feed reports a gap, and the other replicas' sweeps find what it
// named.
func (p *PG) runNotifyLoop(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-p.notes.wake:
		case <-ctx.Done():
			// Close: send what is left, briefly.
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p.flushNotes(fctx, &conn)
			cancel()
			return
		}
		p.flushNotes(ctx, &conn)
	}
}

// flushNotes sends every waiting payload on *conn, connecting first when
// it is nil.
func (p *PG) flushNotes(ctx context.Context, conn **pgx.Conn) {
	for {
		batch := p.notes.take()
		if len(batch) == 0 {
			return
		}
		var err error
		for try := 0; try < 2; try++ {
			if *conn == nil {
				if *conn, err = p.notifier(ctx); err != nil {
					break
				}
			}
			if err = sendNotes(ctx, *conn, batch); err == nil {
				break
			}
			_ = (*conn).Close(context.Background())
			*conn = nil
		}
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("change feed: notifications not sent; subscribers resynchronise", "changes", len(batch), "err", err)
			}
			p.feed.Lost()
		}
	}
}

// notifier opens the notifier's connection: its own, not the pool's, with
// commits that do not wait for the disk.
func (p *PG) notifier(ctx context.Context) (*pgx.Conn, error) {
	cfg := p.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["synchronous_commit"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// sendNotes sends the payloads, in order, in one statement and one commit.
func sendNotes(ctx context.Context, conn *pgx.Conn, batch [][]byte) error {
	texts := make([]string, len(batch))
	for i, b := range batch {
		texts[i] = string(b)
	}
	_, err := conn.Exec(ctx, `SELECT pg_notify($1, x.payload)
		FROM unnest($2::text[]) WITH ORDINALITY AS x(payload, n) ORDER BY x.n`, changesChannel, texts)
	return err
}

// startListener opens the listening session, so that every commit after
// Open returns reaches the feed, and starts the goroutines that own it,
// send the notifications and sweep the overflow.
func (p *PG) startListener(ctx context.Context) error {
	conn, err := p.listen(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		p.runListenLoop(lctx, conn)
	}()
	go func() {
		defer p.wg.Done()
		p.runNotifyLoop(lctx)
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
	return store.Change{Datasets: w.Datasets, Connections: w.Connections, RevokedAgents: w.RevokedAgents, NewAgents: w.NewAgents,
		Deliveries: w.Deliveries, SyncDue: w.SyncDue, Channels: w.Channels, Diagnostics: w.Diagnostics, Bundles: w.Bundles, LogLevels: w.LogLevels, Updates: w.Updates,
		SyncWindows: w.SyncWindows}, nil
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
