// Package fleet answers support's questions about the agents as a whole
// and one by one over time: the fleet's summary (agents online and
// offline, by version and OS, the datasets of the last 24 hours and the
// errors), an agent's connectivity intervals and its round trips.
//
// The summary is cheap to ask for at any fleet size: the agents' part is
// read from the store at most once every Config.Refresh whoever asks
// (every other call copies it), and the datasets' part is counted from the
// change feed into hourly buckets, read from the store once at start (and
// after a gap in the feed).
package fleet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Store is what the fleet reads. Each method keeps the contract written
// on store.Backend's.
type Store interface {
	// Agent returns one agent; store.ErrNotFound if missing.
	Agent(ctx context.Context, id string) (store.Agent, error)
	// Agents returns every agent, oldest first.
	Agents(ctx context.Context) ([]store.Agent, error)
	// Channel returns who holds the agent's channel.
	Channel(ctx context.Context, agentID string) (store.Channel, error)
	// Channels returns the channels held now.
	Channels(ctx context.Context) ([]store.Channel, error)
	// AgentEvents returns an agent's events, newest first.
	AgentEvents(ctx context.Context, agentID string) ([]store.AgentEvent, error)
	// RoundTrips returns the samples of the agent's ring of resolution res
	// in [from, to), oldest first.
	RoundTrips(ctx context.Context, agentID string, res time.Duration, from, to time.Time) ([]store.RoundTrip, error)
	// Companies returns every company, oldest first.
	Companies(ctx context.Context) ([]store.Company, error)
	// Connections returns a company's connections (store.ErrNotFound).
	Connections(ctx context.Context, companyID string) ([]store.Connection, error)
	// Datasets returns a company's datasets (store.ErrNotFound).
	Datasets(ctx context.Context, companyID string) ([]store.Dataset, error)
}

// Config configures a Fleet.
type Config struct {
	Store  Store
	Feed   *store.Feed
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Refresh is how old the agents' part of the summary may be
	// (DefaultRefresh when zero).
	Refresh time.Duration
}

// DefaultRefresh is Config.Refresh's default.
const DefaultRefresh = 30 * time.Second

// Day is the span of the summary's dataset counts and online history.
const Day = 24 * time.Hour

// Summary is the fleet at a glance.
type Summary struct {
	// At is when the agents' part was read.
	At time.Time
	rules.FleetAgents
	// Datasets counts the datasets requested in the last 24 hours (by the
	// hour) by their status now, every status present.
	Datasets map[dataset.Status]int
	// ErrorTypes and ErrorAgents are the data types and the agents with
	// the most of those datasets in an error status.
	ErrorTypes, ErrorAgents []rules.Count
	// OnlineHistory is the number of agents online at each reading of the
	// last 24 hours this coordinator made (at most one a Refresh, kept one
	// a minute), oldest first.
	OnlineHistory []Point
}

// Point is a count at a time.
type Point struct {
	At     time.Time
	Online int
}

// Reader is what the API and the Portal read of the fleet: *Fleet's
// answers.
type Reader interface {
	// Summary returns the fleet at a glance.
	Summary(ctx context.Context) (Summary, error)
	// Connectivity returns an agent's intervals over [from, to)
	// (store.ErrNotFound).
	Connectivity(ctx context.Context, agentID string, from, to time.Time) (rules.Connectivity, error)
	// RoundTrips returns an agent's round-trip samples over [from, to) and
	// their resolution (store.ErrNotFound).
	RoundTrips(ctx context.Context, agentID string, from, to time.Time) (time.Duration, []store.RoundTrip, error)
}

// Fleet keeps the summary. Start runs its feed loop; Close stops it.
type Fleet struct {
	cfg Config
	st  Store
	log *slog.Logger
	now func() time.Time

	refresh sync.Mutex // held while the agents' part is read
	mu      sync.Mutex
	agents  rules.FleetAgents
	at      time.Time // when agents was read; zero before the first read
	history []Point
	hours   *hours

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a Fleet.
func New(cfg Config) *Fleet {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	return &Fleet{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now, hours: newHours()}
}

// Start follows the feed until Close, having read the last 24 hours of
// datasets from the store (in its goroutine: until then the summary's
// datasets' part is empty).
func (f *Fleet) Start() {
	sub := f.cfg.Feed.Subscribe(f.cfg.Feed.Head())
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	read := func() {
		if err := f.backfill(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("fleet: read the last day's datasets", "err", err)
		}
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		read()
		sub.Follow(ctx, nil, f.apply, func(*store.GapError) { read() })
	}()
}

// Close stops the feed loop.
func (f *Fleet) Close() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// Summary returns the fleet's summary: the agents' part read at most
// Refresh ago (read now when older, by one caller while the others wait
// for it), the datasets' part as the feed counted it.
func (f *Fleet) Summary(ctx context.Context) (Summary, error) {
	if err := f.fresh(ctx); err != nil {
		return Summary{}, err
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Summary{At: f.at, FleetAgents: f.agents, OnlineHistory: append([]Point(nil), f.history...)}
	s.Datasets, s.ErrorTypes, s.ErrorAgents = f.hours.sum(now)
	return s, nil
}

// fresh reads the agents' part when it is older than Refresh.
func (f *Fleet) fresh(ctx context.Context) error {
	f.refresh.Lock()
	defer f.refresh.Unlock()
	now := f.now()
	f.mu.Lock()
	stale := f.at.IsZero() || now.Sub(f.at) >= f.cfg.Refresh
	f.mu.Unlock()
	if !stale {
		return nil
	}
	agents, err := f.st.Agents(ctx)
	if err != nil {
		return err
	}
	chans, err := f.st.Channels(ctx)
	if err != nil {
		return err
	}
	held := make(map[string]bool, len(chans))
	for _, c := range chans {
		held[c.AgentID] = true
	}
	sum := rules.SummarizeAgents(agents, func(id string) bool { return held[id] }, now)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents, f.at = sum, now
	f.history = appendPoint(f.history, Point{At: now.UTC(), Online: sum.Online}, now)
	return nil
}

// appendPoint adds p to the history, replacing a point of the same
// minute, and drops the points older than a day.
func appendPoint(h []Point, p Point, now time.Time) []Point {
	if n := len(h); n > 0 && h[n-1].At.Truncate(time.Minute).Equal(p.At.Truncate(time.Minute)) {
		h = h[:n-1]
	}
	h = append(h, p)
	i := 0
	for i < len(h) && now.Sub(h[i].At) > Day {
		i++
	}
	return append(h[:0], h[i:]...)
}
