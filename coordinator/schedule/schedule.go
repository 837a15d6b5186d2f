// Package schedule queues the scheduled syncs: a data type whose sync
// setting has syncSchedule N hours is queued again N hours after its last
// dataset on a connection was requested, while the connection is Linked.
//
// The store keeps one schedule entry per (connection, data type), indexed by
// due time and re-armed in the same transaction that queues a dataset. A
// tick reads only the entries due, so its cost follows the number of syncs
// due, not the number of connections; and since queueing re-arms the entry
// atomically, a restart neither skips nor doubles a due sync.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Config is what the scheduler needs from its owner.
type Config struct {
	Store  store.Store
	Queuer *queue.Queuer
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Interval is how often the scheduler looks for due syncs; 30 s when 0.
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
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.runTickLoop(ctx) }()
}

// Close stops the loop and waits for it.
func (s *Scheduler) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Scheduler) runTickLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled syncs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Result counts what one tick did.
type Result struct {
	Queued, Busy, Dropped, Moved int
}

// Tick queues every sync due now. Each due entry is queued, moved (to its
// next turn when the type is still in progress, or later when its schedule
// was lengthened), or dropped (schedule 0, connection gone or not Linked;
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
	ds, err := s.cfg.Queuer.Queue(ctx, e.CompanyID, e.DataType, e.ConnectionID, "scheduled sync")
	var busy *store.InProgressError
	switch {
	case errors.As(err, &busy):
		// The 409 rule: the type is still in progress (its agent offline,
		// say). Its next turn is the next multiple of the schedule.
		res.Busy++
		next := e.Due
		for !next.After(now) {
			next = next.Add(every)
		}
		return s.cfg.Store.Reschedule(ctx, e, next)
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

func scheduleOf(list []store.SyncSetting, e store.ScheduledSync) int {
	for _, st := range list {
		if st.DataType == e.DataType {
			return st.SyncSchedule
		}
	}
	return 0
}
