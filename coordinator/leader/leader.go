// Package leader runs the work that must run once across the cluster (lease
// expiry, the scheduler, webhook delivery, pruning) on the one replica that
// holds a lease in the store, and moves it to another replica within
// seconds when its holder stops or dies.
package leader

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Store is what a leader needs of the store (store.LeaderStore).
type Store interface {
	// AcquireLease takes the named lease for holder until now+ttl when it
	// is free, expired (its until at or before now) or already holder's
	// (a renewal), and returns true and the new until. When another holder
	// has it until after now it changes nothing and returns false and that
	// holder's until. Of concurrent acquisitions of a free lease exactly
	// one wins.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, time.Time, error)
	// ReleaseLease frees the named lease when holder has it, so that
	// another replica takes it at once; otherwise it changes nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// DefaultTTL is how long the lease lasts without a renewal: a dead
// holder's work moves to another replica within it.
const DefaultTTL = 10 * time.Second

// Config is a leader's lease and its holder.
type Config struct {
	Store Store
	// Name is the lease's name; Holder this replica's id.
	Name, Holder string
	// TTL is the lease's length, renewed every TTL/3; DefaultTTL when 0.
	TTL    time.Duration
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Leader holds a lease and runs work while it holds it.
type Leader struct {
	cfg  Config
	work func(ctx context.Context)

	mu      sync.Mutex
	leading bool
}

// New returns a leader that runs work, which must return when its context
// ends, for as long as it holds the lease.
func New(cfg Config, work func(ctx context.Context)) *Leader {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Leader{cfg: cfg, work: work}
}

// Leading reports whether the work runs here now.
func (l *Leader) Leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading
}

// Run tries to take the lease, and renews it, every TTL/3 until ctx ends,
// running the work while the lease is held and stopping it (and waiting
// for it) as soon as a renewal fails or is refused: the work has stopped
// before the lease it last renewed expires. At the end it releases the
// lease, so another replica takes over at once.
func (l *Leader) Run(ctx context.Context) {
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.cfg.Store.ReleaseLease(rctx, l.cfg.Name, l.cfg.Holder); err != nil {
			l.cfg.Logger.Warn("release leader lease", "lease", l.cfg.Name, "err", err)
		}
	}()
	t := time.NewTicker(l.cfg.TTL / 3)
	defer t.Stop()
	for {
		// A renewal that takes longer than a third of the lease fails:
		// the work must stop well before the lease it holds expires.
		actx, cancel := context.WithTimeout(ctx, l.cfg.TTL/3)
		held, until, err := l.cfg.Store.AcquireLease(actx, l.cfg.Name, l.cfg.Holder, l.cfg.Now(), l.cfg.TTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.cfg.Logger.Error("renew leader lease", "lease", l.cfg.Name, "err", err)
			held = false
		}
		if held && stop == nil {
			l.cfg.Logger.Info("leading: running the cluster's once-only work", "lease", l.cfg.Name, "until", until)
			stop = l.start(ctx)
		} else if !held && stop != nil {
			l.cfg.Logger.Warn("no longer leading: stopping the cluster's once-only work", "lease", l.cfg.Name)
			stop()
			stop = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// start runs the work and returns the function that stops it and waits.
func (l *Leader) start(ctx context.Context) func() {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.setLeading(true)
	go func() { defer close(done); l.work(wctx) }()
	return func() {
		cancel()
		<-done
		l.setLeading(false)
	}
}

func (l *Leader) setLeading(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leading = v
}
