package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/connlimit"
	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/leader"
	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/linkpage"
	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/portal"
	"github.com/ferry-sync/ferry/coordinator/proxyproto"
	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/coordinator/rollout"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
	"github.com/ferry-sync/ferry/shared/tick"
)

// Server is a running coordinator's pieces.
type Server struct {
	cfg Config
	log *slog.Logger
	// Store is the backend every part is handed, each through the narrow
	// interface it declares.
	Store   store.Backend
	API     *api.Server
	Hub     *hub.Hub
	Portal  *portal.Handler
	Metrics *metrics.Metrics
	// fleet answers support's questions about the agents over time.
	fleet *fleet.Fleet
	// publisher takes the uploads the hub commits to Complete.
	publisher *publish.Publisher
	events    *events
	// leader runs the work that must run once across the replicas;
	// presence holds this replica's presence lease (replicas.go).
	leader, presence *leader.Leader
	// ownStore: Serve closes the store (New opened it).
	ownStore bool
	ln       net.Listener
	http     *http.Server
	// debugLn and debug serve the profiler when DebugListen is set
	// (debug.go).
	debugLn net.Listener
	debug   *http.Server
}

// New opens the store (openStore), makes sure an admin key exists and
// binds the listener; Serve then serves, and closes the store at its end.
// The admin key, when generated, is written to out once.
func New(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := openStore(ctx, cfg, log.With("subsystem", "store"))
	if err != nil {
		return nil, err
	}
	s, err := NewWithStore(ctx, cfg, st, log, out)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	s.ownStore = true
	return s, nil
}

// openStore opens the store cfg names: PostgreSQL for a postgres:// URL,
// else Badger in the data directory.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Backend, error) {
	if isPostgres(cfg.Store) {
		return pgstore.Open(ctx, cfg.Store, pgstore.Options{Logger: log})
	}
	return badgerstore.Open(filepath.Join(cfg.DataDir, "badger"), log)
}

// NewWithStore is New on a store the caller opened and keeps: Serve does
// not close it. Coordinators built on one store are replicas of one
// another, as on one PostgreSQL database.
func NewWithStore(ctx context.Context, cfg Config, st store.Backend, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = defaultReplicaID(ln.Addr())
	}
	s, err := build(ctx, cfg, st, ln, log, out)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// defaultReplicaID is the host's name and the listener's port.
func defaultReplicaID(addr net.Addr) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return net.JoinHostPort(host, port)
}

// build assembles the parts on st and ln.
func build(ctx context.Context, cfg Config, st store.Backend, ln net.Listener, log *slog.Logger, out io.Writer) (*Server, error) {
	log = log.With("replica", cfg.ReplicaID)
	s := &Server{cfg: cfg, log: log, Store: st}
	if err := s.ensureAdminKey(ctx, out); err != nil {
		return nil, err
	}
	secret, err := st.Secret(ctx, linkcode.SecretName)
	if err != nil {
		return nil, err
	}
	links := linkcode.NewLinks(cfg.PublicURL, secret)
	q := queue.New(st)
	// One count of failed authentications per address, for API keys and
	// agent credentials alike.
	failures := ratelimit.NewFailures(st, "auth", cfg.MaxAuthFailures, time.Minute, log.With("subsystem", "auth"))
	s.Metrics = metrics.New()
	// The parts that act on commits (the hub's offers and revocations,
	// the scheduler, the webhook dispatcher) learn of them from the
	// store's change feed, not from the writers.
	s.events = newEvents(cfg, st, st.Feed(), q, s.Metrics, log)
	s.publisher = publish.New(publish.Config{Store: st, Logger: log.With("subsystem", "publish"), Metrics: s.Metrics})
	hubReleases, apiReleases, err := cfg.releaseCatalog(log.With("subsystem", "releases"))
	if err != nil {
		return nil, err
	}
	s.Hub = hub.New(hub.Config{Releases: hubReleases, Store: st, Queuer: q, Publisher: s.publisher, Feed: st.Feed(), Logger: log.With("subsystem", "hub"),
		LeaseTTL: cfg.LeaseTTL, Metrics: s.Metrics, AuthFailures: failures,
		Replica: cfg.ReplicaID, SweepInterval: cfg.SweepInterval, OfflineAfter: cfg.OfflineAfter, MinAgentVersion: cfg.MinAgentVersion,
		UpdateHealth: cfg.UpdateHealth})
	s.Metrics.WatchAgentsOnline(s.Hub)
	s.Metrics.WatchDatasets(st)
	s.Metrics.WatchWebhookOutbox(st)
	s.Metrics.WatchFeed(st.Feed())
	s.fleet = fleet.New(fleet.Config{Store: st, Feed: st.Feed(), Logger: log.With("subsystem", "fleet")})
	s.API = api.New(api.Config{
		Store: st, Queuer: q, Logger: log.With("subsystem", "api"),
		PublicURL: cfg.PublicURL, LinkCodeTTL: cfg.LinkCodeTTL, WebhookAllowPrivate: cfg.Events.WebhookAllowPrivate,
		Links: links, Agents: s.Hub, Metrics: s.Metrics, AuthFailures: failures, Fleet: s.fleet, Releases: apiReleases,
	})
	s.Portal = portal.New(portal.Config{
		Store: st, Queuer: q, Agents: s.Hub, Logger: log.With("subsystem", "portal"), PublicURL: cfg.PublicURL,
		Links: links, LinkCodeTTL: cfg.LinkCodeTTL, Fleet: s.fleet, Releases: apiReleases,
	})
	mux := http.NewServeMux()
	mux.Handle("/agent/", s.Hub.Handler())
	pages := linkpage.New(st, log.With("subsystem", "link"), links, cfg.LinkCodeTTL)
	pages.Downloads = cfg.Downloads
	mux.Handle("/link/", pages)
	mux.Handle("/downloads/", pages)
	mux.Handle("/portal/", s.Portal)
	// A browser opening the coordinator's address lands in the Portal; an
	// API client gets the API's answer.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.API.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
	})
	mux.Handle("/", s.API)
	// The PROXY header is read beneath the connection limits, so that
	// they, and everything after, see the client's address.
	proxies, err := proxyproto.ParsePrefixes(cfg.ProxyProtocolFrom)
	if err != nil {
		return nil, fmt.Errorf("proxy-protocol-from: %w", err)
	}
	s.ln = proxyproto.New(ln, proxies, 0, log.With("subsystem", "listener"))
	if len(proxies) > 0 {
		log.Info("PROXY protocol headers required", "from", cfg.ProxyProtocolFrom)
	}
	lim := cfg.connectionLimits()
	limited := connlimit.New(s.ln, lim, log.With("subsystem", "listener"))
	s.ln = limited
	log.Info("connections limited", "max", lim.Max, "reserveForAgents", lim.Reserve, "perAddress", lim.PerAddress)
	s.http = &http.Server{
		Handler:           reserveForAgents(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnState:         limited.ConnState,
		ConnContext:       limited.ConnContext,
	}
	// Shutdown waits for requests to finish; the Portal's live streams
	// would not, so they end when it starts.
	s.http.RegisterOnShutdown(s.Portal.Close)
	s.leader = leader.New(leader.Config{Store: st, Name: leaderLease, Holder: cfg.ReplicaID, TTL: cfg.LeaderTTL,
		Logger: log.With("subsystem", "leader")}, s.runLeaderWork)
	s.presence = s.newPresence()
	if cfg.DebugListen != "" {
		if s.debugLn, err = net.Listen("tcp", cfg.DebugListen); err != nil {
			return nil, fmt.Errorf("debug-listen: %w", err)
		}
		s.debug = newDebugServer()
		log.Info("profiler serving", "debugListen", s.debugLn.Addr().String())
	}
	return s, nil
}

// releaseCatalog is the catalog of the releases in the downloads
// directory, as the hub and the API take it; nil for both without one.
func (c Config) releaseCatalog(log *slog.Logger) (hub.Releases, api.Releases, error) {
	if c.Downloads == "" {
		return nil, nil, nil
	}
	roots, err := c.releaseRoots()
	if err != nil {
		return nil, nil, err
	}
	log.Info("agent releases offered", "downloads", c.Downloads, "roots", release.KeyIDs(roots))
	cat := releases.New(c.Downloads, roots, nil, log)
	return cat, cat, nil
}

// reserveForAgents lets a connection accepted into the reserve (the
// ordinary connections were at their cap) serve only an agent's control
// channel upgrade; anything else is 503 with Retry-After. Either way it is
// closed after this request, unless the hub makes it a control channel.
func reserveForAgents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if connlimit.Reserved(r.Context()) {
			w.Header().Set("Connection", "close")
			if r.URL.Path != protocol.ConnectPath {
				w.Header().Set("Retry-After", "1")
				api.Refuse(w, r, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Retry: true,
					Message: "the coordinator is at its connection limit; retry shortly"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then stops cleanly: it stops taking
// requests, lets in-flight ones finish (up to ShutdownTimeout) and closes
// the store (when New opened it).
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Hub.Start(); err != nil {
		return errors.Join(err, s.closeStore())
	}
	if err := s.publisher.Start(); err != nil {
		s.Hub.Close()
		return errors.Join(err, s.closeStore())
	}
	s.fleet.Start()
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- s.http.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey)
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	if s.debug != nil {
		go func() {
			if err := s.debug.Serve(s.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("profiler stopped", "err", err)
			}
		}()
		defer s.debug.Close()
	}
	loops, stopLoops := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); s.runGCLoop(loops) }()
	// A replica that starts again after a kill takes on at once what it
	// (or any replica) left in Validating or Processing before it
	// started, rather than leaving it to the leader's resume minutes
	// later; a dataset another replica is finishing now is processed
	// twice, which the store's transitions make harmless.
	started := time.Now()
	go func() {
		defer wg.Done()
		if err := s.publisher.Resume(loops, started); err != nil && loops.Err() == nil {
			s.log.Error("resume unfinished uploads", "err", err)
		}
	}()
	go func() { defer wg.Done(); s.presence.Run(loops) }()
	go func() { defer wg.Done(); s.leader.Run(loops) }()
	transitions := s.Store.Feed().Subscribe(s.Store.Feed().Head())
	go func() { defer wg.Done(); s.Metrics.Follow(loops, transitions) }()
	s.API.SetReady(true)
	s.log.Info("coordinator serving", "listen", s.Addr(), "publicUrl", s.cfg.PublicURL)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.API.SetReady(false)
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	shutErr := s.http.Shutdown(shutCtx)
	s.Portal.Close()
	// The leader's work stops and its lease is released before the hub
	// closes: another replica takes both over at once.
	stopLoops()
	wg.Wait()
	s.Hub.Close()
	s.publisher.Close()
	s.fleet.Close()
	if serveErr == nil {
		serveErr = <-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	closeErr := s.closeStore()
	s.log.Info("coordinator stopped")
	return errors.Join(serveErr, shutErr, closeErr)
}

// closeStore closes the store when New opened it.
func (s *Server) closeStore() error {
	if !s.ownStore {
		return nil
	}
	return s.Store.Close()
}

// Leading reports whether this coordinator runs the work that must run
// once across the replicas sharing its store.
func (s *Server) Leading() bool { return s.leader.Leading() }

// ReplicaID is this coordinator's id among the replicas.
func (s *Server) ReplicaID() string { return s.cfg.ReplicaID }

// leaderLease is the name of the lease whose holder runs the cluster's
// once-only work.
const leaderLease = "leader"

// runLeaderWork is what one replica alone runs, while it holds the leader
// lease, until ctx ends: lease expiry, the rollouts of agent releases,
// the events of coalesced credential
// refusals, the offline reports of agents, the scheduler, webhook delivery
// from the outbox, the release of the channels of replicas that are gone
// (every leader TTL), the uploads a replica left unfinished, and the pruning of what the replicas share (agent
// events, Portal sessions, failure counts) every GCInterval.
func (s *Server) runLeaderWork(ctx context.Context) {
	s.events.start()
	defer s.events.close()
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); s.Hub.RunExpiryLoop(ctx) }()
	go func() {
		defer wg.Done()
		deadline := cmp.Or(s.cfg.UpdateHealth, hub.DefaultUpdateHealth) + cmp.Or(s.cfg.UpdateTimeout, rollout.DefaultUpdateTimeout)
		rollout.New(rollout.Config{Store: s.Store, Logger: s.log.With("subsystem", "rollout"), Metrics: s.Metrics,
			Interval: s.cfg.RolloutInterval, Retry: s.cfg.RolloutRetry, Deadline: deadline}).Run(ctx)
	}()
	go func() { defer wg.Done(); s.Hub.RunRefusalLoop(ctx) }()
	go func() { defer wg.Done(); s.Hub.RunOfflineLoop(ctx) }()
	go func() {
		defer wg.Done()
		claims := newClaimWatch(s.Store, s.Store.Feed(), s.cfg.ReplicaID, s.log)
		tick.Every(ctx, cmp.Or(s.cfg.LeaderTTL, leader.DefaultTTL), func(ctx context.Context) { claims.pass(ctx, time.Now()) })
	}()
	go func() { defer wg.Done(); s.runResumeLoop(ctx) }()
	tick.Every(ctx, s.cfg.GCInterval, s.pruneShared)
	wg.Wait()
}

// resumeAfter is how long a dataset may stay in Validating or Processing
// before the leader takes it on, as one a replica that died left: longer
// than a replica takes to finish a large one.
const resumeAfter = 2 * time.Minute

// runResumeLoop has this replica's publisher take on the uploads left in
// Validating or Processing: all of them at once (a leader starts after a
// restart, or after the last leader died), then, every minute, those
// there for more than resumeAfter, until ctx ends.
func (s *Server) runResumeLoop(ctx context.Context) {
	resume := func(before time.Time) {
		if err := s.publisher.Resume(ctx, before); err != nil && ctx.Err() == nil {
			s.log.Error("resume unfinished uploads", "err", err)
		}
	}
	resume(time.Now())
	tick.Every(ctx, time.Minute, func(context.Context) { resume(time.Now().Add(-resumeAfter)) })
}

// runGCLoop folds the dataset counts' pending changes and reclaims the
// space of replaced cache snapshots and staged pages every GCInterval,
// until ctx ends: each replica's own upkeep of its store. It folds once
// at start too: a coordinator restarted more often than GCInterval (a
// crash loop, deploys minutes apart) would otherwise never fold, and
// every dataset transition adds a pending change.
func (s *Server) runGCLoop(ctx context.Context) {
	s.foldCounts(ctx)
	tick.Every(ctx, s.cfg.GCInterval, s.collectGarbage)
}

// foldCounts folds the dataset counts' pending changes (reading them
// does): without a scraper, these stay bounded by one GC interval's
// transitions.
func (s *Server) foldCounts(ctx context.Context) {
	if _, err := s.Store.DatasetCounts(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("fold dataset counts", "err", err)
	}
}

// collectGarbage is one pass of the GC loop.
func (s *Server) collectGarbage(ctx context.Context) {
	s.foldCounts(ctx)
	gc, ok := s.Store.(interface{ CollectGarbage() (int, error) })
	if !ok {
		return
	}
	n, err := gc.CollectGarbage()
	if err != nil {
		s.log.Error("value log gc", "err", err)
	} else if n > 0 {
		s.log.Info("value log gc", "rewrites", n)
	}
}

// ensureAdminKey makes sure a client can call the API on first start.
func (s *Server) ensureAdminKey(ctx context.Context, out io.Writer) error {
	now := time.Now()
	if s.cfg.AdminKey != "" {
		return api.EnsureKey(ctx, s.Store, s.cfg.AdminKey, "admin (FERRY_ADMIN_KEY)", store.ScopeClient, now)
	}
	keys, err := s.Store.APIKeys(ctx)
	if err != nil || len(keys) > 0 {
		return err
	}
	secret := api.NewKeySecret()
	path := filepath.Join(s.cfg.DataDir, "admin-key")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin key: %w", err)
	}
	if err := api.EnsureKey(ctx, s.Store, secret, "admin", store.ScopeClient, now); err != nil {
		return err
	}
	fmt.Fprintf(out, "Admin API key (shown once, also in %s):\n%s\n", path, secret)
	return nil
}
