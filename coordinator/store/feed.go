package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The change feed
//
// After a transaction commits, the backend publishes what it changed on a
// Feed, as one Change. The parts that react to commits subscribe to it
// instead of being called by the writer: the hub offers newly queued work
// and revokes withdrawn connections, the webhook dispatcher wakes for new
// deliveries, the scheduler for schedules armed earlier than its next wake.
//
// A Change carries only what its subscribers act on, not the state: a
// subscriber that needs more reads the store. Every reaction is idempotent
// (offer what is queued now, revoke a binding that may already be gone), so
// a change delivered twice does no harm. A backend publishes after its
// commit returns, so two transactions that commit at nearly the same time
// may publish in the other order. Subscribers therefore act on
// what a change names by reading the store's state now, not by replaying
// the changes on a copy of it.
//
// A subscriber starts by subscribing at the head, then reads from the
// store what it watches (the scheduler its due entries, the dispatcher its
// outbox): what commits after that read comes through the subscription, so
// nothing falls between the two.
//
// Each Change has a sequence number, increasing along the feed. The Feed
// keeps the last changes in a ring; a subscriber reads them after its
// cursor, in order, each at least once. When what follows its cursor is no
// longer in the ring (it fell behind by more than the ring holds), or was
// never published here (a jump in the sequence), Next returns a *GapError
// once and moves the cursor to the head: the subscriber resynchronises from
// the store (a full read of what it watches) and goes on from there. That is
// how a backend whose commits come from elsewhere feeds the same Feed: a
// replicated backend publishes the commits of every replica with their own
// global sequence numbers (PublishAt), and one it missed is a gap that the
// subscribers recover from by reading the store.

// Change is what one committed transaction changed, as the feed's
// subscribers need it. Its slices must not be modified: every subscriber
// reads the same ones.
type Change struct {
	// Seq is the change's place in the feed, set by the Feed (or the
	// backend, PublishAt).
	Seq uint64
	// At is when it was published.
	At time.Time
	// Datasets are the datasets the commit created or moved to another
	// status.
	Datasets []DatasetChange
	// Connections are the connections the commit created, deleted, moved
	// to another status or bound to another agent.
	Connections []ConnectionChange
	// RevokedAgents are the agents whose credential the commit revoked.
	RevokedAgents []string
	// NewAgents are the agents the commit created.
	NewAgents []string
	// Deliveries is how many webhook deliveries the commit put in the
	// outbox, each due at once.
	Deliveries int
	// SyncDue is the earliest due time of the scheduled syncs the commit
	// armed; zero when it armed none.
	SyncDue time.Time
	// Channels are the agents' control channels the commit claimed or
	// released.
	Channels []ChannelChange
	// Diagnostics are the diagnostics requests the commit made or
	// answered.
	Diagnostics []DiagnosticsChange
	// Bundles are the support bundles the commit requested.
	Bundles []BundleChange
	// LogLevels are the agents whose raised log level the commit changed.
	LogLevels []LogLevelChange
	// Updates are the updates the commit asked of agents.
	Updates []UpdateChange
	// SyncWindows: the commit changed a company's or the client's sync
	// window, which may open or close any connection's. (A connection's
	// own window or pause is in Connections.)
	SyncWindows bool
}

// DiagnosticsChange is a diagnostics request made of the replica holding
// the agent's channel, or answered.
type DiagnosticsChange struct {
	AgentID, ID, Replica string
	Answered             bool
}

// BundleChange is a support bundle requested of an agent.
type BundleChange struct {
	AgentID, ID string
}

// LogLevelChange is an agent's log level raised by support, until Until.
type LogLevelChange struct {
	AgentID, Level string
	Until          time.Time
}

// ChannelChange is an agent's control channel claimed by a replica at an
// epoch, or released (Replica empty) at the epoch of the claim it ends.
type ChannelChange struct {
	AgentID, Replica string
	Epoch            uint64
}

// DatasetChange is a dataset created or moved to another status.
type DatasetChange struct {
	ID, CompanyID, ConnectionID string
	DataType                    dataset.DataType
	// From is the status before; empty for a new dataset.
	From dataset.Status
	// To is the status after.
	To dataset.Status
}

// ConnectionChange is a connection created, deleted, moved to another
// status, bound to another agent, paused, resumed, or given another sync
// window of its own (From equal to To for the last three).
type ConnectionChange struct {
	ID, CompanyID string
	// From is the status before; empty for a new connection.
	From ConnectionStatus
	// To is the status after; empty for a deleted connection.
	To ConnectionStatus
	// AgentID is the agent bound after the change (before it, for a
	// deleted connection); empty for none.
	AgentID string
}

// Empty reports whether c records nothing.
func (c *Change) Empty() bool {
	return len(c.Datasets) == 0 && len(c.Connections) == 0 && len(c.RevokedAgents) == 0 && len(c.NewAgents) == 0 &&
		c.Deliveries == 0 && c.SyncDue.IsZero() && len(c.Channels) == 0 && len(c.Diagnostics) == 0 &&
		len(c.Bundles) == 0 && len(c.LogLevels) == 0 && len(c.Updates) == 0 && !c.SyncWindows
}

// ArmSync notes that the commit armed a scheduled sync due at due.
func (c *Change) ArmSync(due time.Time) {
	if !due.IsZero() && (c.SyncDue.IsZero() || due.Before(c.SyncDue)) {
		c.SyncDue = due
	}
}

// A backend records what each write of a transaction means to the
// subscribers with the Record* methods (and ArmSync) on the transaction's
// Change, and publishes it once the transaction commits.

// RecordDataset notes d, which was old before (nil for a new dataset),
// when it is new or moved to another status.
func (ch *Change) RecordDataset(old, d *Dataset) {
	c := DatasetChange{ID: d.ID, CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType, To: d.Status}
	if old != nil {
		if old.Status == d.Status {
			return
		}
		c.From = old.Status
	}
	ch.Datasets = append(ch.Datasets, c)
}

// RecordConnection notes c, which was old before (nil for a new
// connection; c nil for a deleted one), when it is new, deleted, moved to
// another status, bound to another agent, paused or resumed, or given
// another sync window.
func (ch *Change) RecordConnection(old, c *Connection) {
	var cc ConnectionChange
	switch {
	case c == nil:
		cc = ConnectionChange{ID: old.ID, CompanyID: old.CompanyID, From: old.Status, AgentID: old.AgentID}
	case old == nil:
		cc = ConnectionChange{ID: c.ID, CompanyID: c.CompanyID, To: c.Status, AgentID: c.AgentID}
	case old.Status == c.Status && old.AgentID == c.AgentID &&
		old.PausedSince.Equal(c.PausedSince) && SameWindow(old.SyncWindow, c.SyncWindow):
		return
	default:
		cc = ConnectionChange{ID: c.ID, CompanyID: c.CompanyID, From: old.Status, To: c.Status, AgentID: c.AgentID}
	}
	ch.Connections = append(ch.Connections, cc)
}

// RecordAgent notes a, which was old before (nil for a new agent), when
// it is new or its credential was revoked by this write.
func (ch *Change) RecordAgent(old *Agent, a Agent) {
	if old == nil {
		ch.NewAgents = append(ch.NewAgents, a.ID)
	}
	if !a.Revoked.IsZero() && (old == nil || old.Revoked.IsZero()) {
		ch.RevokedAgents = append(ch.RevokedAgents, a.ID)
	}
}

// RecordDelivery notes a webhook delivery put in the outbox.
func (ch *Change) RecordDelivery() { ch.Deliveries++ }

// RecordChannel notes an agent's control channel claimed by replica at
// epoch, or released (replica empty) at the epoch of the claim it ends.
func (ch *Change) RecordChannel(agentID, replica string, epoch uint64) {
	ch.Channels = append(ch.Channels, ChannelChange{AgentID: agentID, Replica: replica, Epoch: epoch})
}

// RecordDiagnostics notes a diagnostics request made, or answered.
func (ch *Change) RecordDiagnostics(r DiagnosticsRequest) {
	ch.Diagnostics = append(ch.Diagnostics, DiagnosticsChange{AgentID: r.AgentID, ID: r.ID, Replica: r.Replica,
		Answered: !r.Answered.IsZero()})
}

// RecordBundle notes a support bundle requested.
func (ch *Change) RecordBundle(b SupportBundle) {
	ch.Bundles = append(ch.Bundles, BundleChange{AgentID: b.AgentID, ID: b.ID})
}

// RecordLogLevel notes the agent's raised log level changed, when it did
// from old to a.
func (ch *Change) RecordLogLevel(old, a Agent) {
	if a.LogLevel != old.LogLevel || !a.LogLevelUntil.Equal(old.LogLevelUntil) {
		ch.LogLevels = append(ch.LogLevels, LogLevelChange{AgentID: a.ID, Level: a.LogLevel, Until: a.LogLevelUntil})
	}
}

// GapError is Next's answer when changes after the subscriber's cursor are
// not in the feed: the subscriber must read again from the store what it
// watches. The cursor has moved to the head, After.
type GapError struct {
	// Cursor is where the subscriber was.
	Cursor uint64
	// After is where it is now: it reads the changes after it.
	After uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("change feed: changes after %d are missing; resynchronise (now after %d)", e.Cursor, e.After)
}

// Feed is an in-process change feed: a ring of the last changes, which
// subscribers read in order after their cursor. Publishing never waits for
// a subscriber. The zero Feed is not usable; NewFeed builds one.
//
// A subscriber waiting for some changes only (Wait, Follow with a want)
// is woken by those alone: the publication passes it over the others,
// moving its cursor past them. Every commit wakes only the loops it
// concerns, not all five of them: on a busy machine each woken loop
// waits for a CPU ahead of, or behind, the one the commit is for (the
// hub's offer of a queued dataset).
type Feed struct {
	mu    sync.Mutex
	ring  []Change // the last len(ring) changes, oldest at start
	start int
	n     int
	head  uint64
	// wake is closed at the next publication; nil when nobody waits.
	wake chan struct{}
	// waiters wait for the changes their want accepts.
	waiters []*waiter
	// woken counts the waiters woken (tests count them).
	woken uint64
}

// waiter is a subscription waiting, at the head, for a change want
// accepts; ch is closed when one is published (or a gap opens).
type waiter struct {
	s    *Subscription
	want func(Change) bool
	ch   chan struct{}
}

// NewFeed returns a feed that keeps the last capacity changes (at least 1).
func NewFeed(capacity int) *Feed {
	return &Feed{ring: make([]Change, max(capacity, 1))}
}

// Publish appends c with the next sequence number, stamps At when it is
// zero, wakes the subscribers and returns the number.
func (f *Feed) Publish(c Change) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Seq = f.head + 1
	f.append(c)
	return c.Seq
}

// PublishAt appends c with its own sequence number c.Seq, for a backend
// whose commits carry one. A number past the head plus one leaves a gap,
// which subscribers see as a GapError; one at or below the head is refused.
// Such a backend numbers its commits without holes (a counter its commits
// increment, not a database sequence that a rolled-back transaction
// skips): a hole costs every subscriber a resynchronisation.
func (f *Feed) PublishAt(c Change) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Seq <= f.head {
		return fmt.Errorf("change feed: sequence %d is not after the head %d", c.Seq, f.head)
	}
	f.append(c)
	return nil
}

// Lost notes that changes were committed that this feed will never
// publish (a replicated backend lost its link to the others for a while):
// the head moves past a change that is not in the ring, so every subscriber
// gets a *GapError and resynchronises from the store.
func (f *Feed) Lost() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head++
	f.wakeAll()
}

// wakeAll wakes every waiting subscriber.
func (f *Feed) wakeAll() {
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	for _, w := range f.waiters {
		f.woken++
		close(w.ch)
	}
	f.waiters = nil
}

func (f *Feed) append(c Change) {
	if c.At.IsZero() {
		c.At = time.Now().UTC()
	}
	if f.n < len(f.ring) {
		f.ring[(f.start+f.n)%len(f.ring)] = c
		f.n++
	} else {
		f.ring[f.start] = c
		f.start = (f.start + 1) % len(f.ring)
	}
	gap := c.Seq != f.head+1
	f.head = c.Seq
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	// A waiter was at the head before c: it is passed over c unless it
	// wants c or c leaves a gap (which it must see).
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if gap || w.want(c) {
			f.woken++
			close(w.ch)
			continue
		}
		w.s.cursor = c.Seq
		kept = append(kept, w)
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
}

// Head is the sequence number of the last change published; 0 before the
// first.
func (f *Feed) Head() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

// Subscribe returns a subscription that reads the changes after after;
// Subscribe(f.Head()) reads those published from now on. A subscriber that
// then reads the store's state misses nothing: what changes after its read
// comes through the subscription.
func (f *Feed) Subscribe(after uint64) *Subscription {
	return &Subscription{f: f, cursor: after}
}

// Subscription is one reader of a feed. It holds nothing in the feed: a
// subscription no longer read just stops. Its methods are for one goroutine.
type Subscription struct {
	f      *Feed
	cursor uint64
}

// Cursor is the sequence number of the last change read (or skipped by a
// gap).
func (s *Subscription) Cursor() uint64 { return s.cursor }

// Next waits until there is at least one change after the cursor and
// returns them all, in order, moving the cursor past them. When the change
// after the cursor is missing it returns a *GapError and moves the cursor to
// the head. It returns ctx's error when ctx ends first.
func (s *Subscription) Next(ctx context.Context) ([]Change, error) {
	return s.next(ctx, nil)
}

// next is Next, woken only by a change want accepts (every change when
// want is nil): while it waits at the head the others move its cursor
// past them. What it returns after waiting may still hold changes want
// does not accept, published before it woke.
func (s *Subscription) next(ctx context.Context, want func(Change) bool) ([]Change, error) {
	for {
		changes, wake, err := s.read(want)
		if err != nil || len(changes) > 0 {
			return changes, err
		}
		select {
		case <-ctx.Done():
			s.f.leave(s)
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// leave drops the waiter of s, if it still waits: its cursor is then the
// owner's alone again.
func (f *Feed) leave(s *Subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters = slices.DeleteFunc(f.waiters, func(w *waiter) bool { return w.s == s })
}

// Poll returns the changes after the cursor published by now, without
// waiting (none when there are none), moving the cursor past them; a
// *GapError as Next. It is the read of a subscriber that acts on its
// changes at times of its own, such as a periodic pass: a pass that comes
// after more changes than the ring holds gets the gap.
func (s *Subscription) Poll() ([]Change, error) {
	changes, _, err := s.read(nil)
	return changes, err
}

// Follow hands each change want accepts (every change when want is nil)
// to apply, in order, and each gap to gap (the subscriber then reads what
// it watches from the store), until ctx ends. It is the loop of a
// subscriber that has nothing else to wait for. want runs under the
// feed's lock as each change is published: it must be quick and must not
// use the feed.
func (s *Subscription) Follow(ctx context.Context, want func(Change) bool, apply func(Change), gap func(*GapError)) {
	for {
		changes, err := s.next(ctx, want)
		var g *GapError
		switch {
		case errors.As(err, &g):
			gap(g)
			continue
		case err != nil: // ctx ended: Next's only other error
			return
		}
		for _, c := range changes {
			if want == nil || want(c) {
				apply(c)
			}
		}
	}
}

// Wait waits until wait has passed or a change for which wake is true
// arrives (true, nil), or a gap in the feed, which may have hidden such a
// change (true and the *GapError: read the store afresh, as after a wake);
// false when ctx ended. It is the sleep of a loop that also has work due
// at a time it knows, such as a retry or a schedule. Only a change wake
// accepts wakes it (wake runs under the feed's lock, as Follow's want).
func (s *Subscription) Wait(ctx context.Context, wait time.Duration, wake func(Change) bool) (bool, *GapError) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		changes, err := s.next(wctx, wake)
		var gap *GapError
		switch {
		case ctx.Err() != nil:
			return false, nil
		case errors.As(err, &gap):
			return true, gap
		case err != nil: // wait has passed
			return true, nil
		}
		if slices.ContainsFunc(changes, wake) {
			return true, nil
		}
	}
}

// read returns the changes after the cursor, or a gap, or when there is
// nothing yet a channel closed at the next publication want accepts
// (any, when want is nil).
func (s *Subscription) read(want func(Change) bool) ([]Change, <-chan struct{}, error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.cursor == f.head {
		if want != nil {
			w := &waiter{s: s, want: want, ch: make(chan struct{})}
			f.waiters = append(f.waiters, w)
			return nil, w.ch, nil
		}
		if f.wake == nil {
			f.wake = make(chan struct{})
		}
		return nil, f.wake, nil
	}
	at := func(i int) *Change { return &f.ring[(f.start+i)%len(f.ring)] }
	i := sort.Search(f.n, func(i int) bool { return at(i).Seq > s.cursor })
	// None after the cursor (a cursor past the head, from a feed that
	// restarted) is a gap too.
	if i == f.n || at(i).Seq != s.cursor+1 {
		gap := &GapError{Cursor: s.cursor, After: f.head}
		s.cursor = f.head
		return nil, nil, gap
	}
	// Up to the next jump in the sequence, if any: the call after this
	// one reports it.
	var out []Change
	for ; i < f.n && at(i).Seq == s.cursor+1; i++ {
		out = append(out, *at(i))
		s.cursor++
	}
	return out, nil, nil
}
