// Package schedule queues the scheduled syncs: a data type whose sync
// setting has syncSchedule N hours is queued again N hours after its last
// dataset on a connection was requested, while the connection is Linked.
//
// The store keeps one schedule entry per (connection, data type), indexed by
// due time and re-armed in the same transaction that queues a dataset. A
// tick reads only the entries due, so its cost follows the number of syncs
// due, not the number of connections; and since queueing re-arms the entry
// atomically, a restart neither skips nor doubles a due sync.
//
// The loop sleeps until the earliest entry is due; a change on the store's
// feed that arms an entry due earlier wakes it.
package schedule

import (
	"github.com/ferry-sync/ferry/coordinator/metrics"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Store is what the scheduler needs of the store.
type Store interface {
	// DueSyncs returns schedule entries due at or before now, earliest
	// first.
	DueSyncs(ctx context.Context, now time.Time, limit int) ([]store.ScheduledSync, error)
	Reschedule(ctx context.Context, s store.ScheduledSync, next time.Time) error
	Connection(ctx context.Context, companyID, id string) (store.Connection, error)
	EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error)
}

// Config is what the scheduler needs from its owner.
type Config struct {
	Store  Store
	Queuer *queue.Queuer
	// Feed is the store's change feed: a change that arms an entry due
	// before the loop's next wake wakes it.
	Feed   *store.Feed
	Logger *slog.Logger
	// Metrics counts the feed's gaps; nil records nothing.
	Metrics *metrics.Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Interval is the longest the loop sleeps between two looks for due
	// syncs; 30 s when 0. It wakes before when the earliest entry is due,
	// or a change arms one due earlier. The interval only bounds how late
	// an entry the feed missed (a gap, a store that publishes none) is
	// queued.
	Interval time.Duration
	// Batch is how many due entries one store read returns; 500 when 0.
	Batch int
}

// Scheduler queues due syncs. Start runs its loop; Close stops it.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval == 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Batch == 0 {
		cfg.Batch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger}
}

// Start runs the tick loop until Close.
func (s *Scheduler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// Subscribed before the first tick: what is armed after its read of
	// the entries comes through the feed.
	sub := s.cfg.Feed.Subscribe(s.cfg.Feed.Head())
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.runTickLoop(ctx, sub) }()
}

// Close stops the loop and waits for it.
func (s *Scheduler) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// runTickLoop ticks, then sleeps until the next entry is due (at most
// Interval), until ctx ends.
func (s *Scheduler) runTickLoop(ctx context.Context, sub *store.Subscription) {
	for {
		_, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("scheduled syncs", "err", err)
		}
		due := s.nextDue(ctx)
		if err != nil {
			// What failed may still be due: no faster than once a second.
			due = later(due, s.cfg.Now().Add(time.Second))
		}
		if !s.sleep(ctx, sub, due) {
			return
		}
	}
}

// nextDue is when the earliest entry is due, at most Interval from now.
func (s *Scheduler) nextDue(ctx context.Context) time.Time {
	now := s.cfg.Now()
	limit := now.Add(s.cfg.Interval)
	next, err := s.cfg.Store.DueSyncs(ctx, limit, 1)
	if err != nil || len(next) == 0 {
		if err != nil && ctx.Err() == nil {
			s.log.Error("scheduled syncs: next due", "err", err)
		}
		return limit
	}
	return next[0].Due
}

// sleep waits until due, a change that arms an entry due before it, or a
// gap in the feed (which may have hidden one); false when ctx ended.
func (s *Scheduler) sleep(ctx context.Context, sub *store.Subscription, due time.Time) bool {
	ok, gap := sub.Wait(ctx, max(due.Sub(s.cfg.Now()), 0), func(c store.Change) bool {
		return !c.SyncDue.IsZero() && c.SyncDue.Before(due)
	})
	if gap != nil {
		s.log.Warn("change feed gap: looking for due syncs", "err", gap)
		s.cfg.Metrics.FeedGap("schedule")
	}
	return ok
}

// Result counts what one tick did.
type Result struct {
	Queued, Busy, Dropped, Moved, Paused int
}

// Tick queues every sync due now. Each due entry is queued, moved (to its
// next turn when the type is still in progress or the connection is
// paused, or later when its schedule was lengthened), or dropped (schedule 0, connection gone or not Linked;
// linking again re-arms it).
func (s *Scheduler) Tick(ctx context.Context) (Result, error) {
	var res Result
	now := s.cfg.Now().UTC()
	settings := map[string][]store.SyncSetting{}
	for range 10_000 {
		due, err := s.cfg.Store.DueSyncs(ctx, now, s.cfg.Batch)
		if err != nil {
			return res, fmt.Errorf("due syncs: %w", err)
		}
		for _, e := range due {
			if e.Due.IsZero() || e.Due.After(now) {
				continue // moved since it was read
			}
			if err := s.handle(ctx, e, now, settings, &res); err != nil {
				return res, err
			}
		}
		if len(due) < s.cfg.Batch {
			return res, nil
		}
	}
	return res, errors.New("due syncs: too many batches in one tick")
}

func (s *Scheduler) handle(ctx context.Context, e store.ScheduledSync, now time.Time, settings map[string][]store.SyncSetting, res *Result) error {
	conn, err := s.cfg.Store.Connection(ctx, e.CompanyID, e.ConnectionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && conn.Status != store.Linked) {
		res.Dropped++
		return s.cfg.Store.Reschedule(ctx, e, time.Time{})
	}
	if err != nil {
		return err
	}
	list, ok := settings[e.CompanyID]
	if !ok {
		if list, err = s.cfg.Store.EffectiveSyncSettings(ctx, e.CompanyID); err != nil {
			return err
		}
		settings[e.CompanyID] = list
	}
	every := time.Duration(scheduleOf(list, e)) * time.Hour
	switch {
	case every == 0:
		res.Dropped++
		return s.cfg.Store.Reschedule(ctx, e, time.Time{})
	case e.Requested.Add(every).After(now):
		res.Moved++
		return s.cfg.Store.Reschedule(ctx, e, e.Requested.Add(every))
	}
	// A paused connection's turn is skipped, as a busy one's: its
	// next turn is the next multiple of the schedule.
	nextTurn := func() error {
		next := e.Due
		for !next.After(now) {
			next = next.Add(every)
		}
		return s.cfg.Store.Reschedule(ctx, e, next)
	}
	if !conn.PausedSince.IsZero() {
		res.Paused++
		return nextTurn()
	}
	ds, err := s.cfg.Queuer.Queue(ctx, e.CompanyID, e.DataType, e.ConnectionID, "scheduled sync")
	var busy *store.InProgressError
	switch {
	case errors.As(err, &busy):
		// The 409 rule: the type is still in progress (its agent offline,
		// say).
		res.Busy++
		return nextTurn()
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUnlinked):
		res.Dropped++
		return s.cfg.Store.Reschedule(ctx, e, time.Time{})
	case err != nil:
		return fmt.Errorf("queue scheduled %s on %s: %w", e.DataType, e.ConnectionID, err)
	}
	res.Queued++
	s.log.Info("scheduled sync queued", "company", e.CompanyID, "connection", e.ConnectionID,
		"dataset", ds.ID, "dataType", e.DataType)
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func scheduleOf(list []store.SyncSetting, e store.ScheduledSync) int {
	for _, st := range list {
		if st.DataType == e.DataType {
			return st.SyncSchedule
		}
	}
	return 0
}
