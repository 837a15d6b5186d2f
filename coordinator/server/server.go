package server

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

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
	"time"

	"github.com/ferry-sync/ferry/coordinator/api"
	"github.com/ferry-sync/ferry/coordinator/connlimit"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/linkpage"
	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/portal"
	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
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
	// publisher takes the uploads the hub commits to Complete.
	publisher *publish.Publisher
	events    *events
	ln        net.Listener
	http      *http.Server
}

// New opens the store, makes sure an admin key exists and binds the
// listener; Serve then serves. The admin key, when generated, is written to
// out once.
func New(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := badgerstore.Open(filepath.Join(cfg.DataDir, "badger"), log.With("subsystem", "store"))
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, Store: st}
	if err := s.ensureAdminKey(ctx, out); err != nil {
		st.Close()
		return nil, err
	}
	secret, err := st.Secret(ctx, linkcode.SecretName)
	if err != nil {
		st.Close()
		return nil, err
	}
	links := linkcode.NewLinks(cfg.PublicURL, secret)
	q := queue.New(st)
	// One count of failed authentications per address, for API keys and
	// agent credentials alike.
	failures := ratelimit.NewFailures(cfg.MaxAuthFailures, time.Minute)
	s.Metrics = metrics.New()
	// The parts that act on commits (the hub's offers and revocations,
	// the scheduler, the webhook dispatcher) learn of them from the
	// store's change feed, not from the writers.
	s.events = newEvents(cfg, st, st.Feed(), q, s.Metrics, log)
	s.publisher = publish.New(publish.Config{Store: st, Logger: log.With("subsystem", "publish"), Metrics: s.Metrics})
	s.Hub = hub.New(hub.Config{Store: st, Queuer: q, Publisher: s.publisher, Feed: st.Feed(), Logger: log.With("subsystem", "hub"),
		LeaseTTL: cfg.LeaseTTL, Metrics: s.Metrics, AuthFailures: failures})
	s.Metrics.WatchAgentsOnline(s.Hub)
	s.Metrics.WatchDatasets(st)
	s.Metrics.WatchWebhookOutbox(st)
	s.Metrics.WatchFeed(st.Feed())
	s.API = api.New(api.Config{
		Store: st, Queuer: q, Logger: log.With("subsystem", "api"),
		PublicURL: cfg.PublicURL, LinkCodeTTL: cfg.LinkCodeTTL, WebhookAllowPrivate: cfg.Events.WebhookAllowPrivate,
		Links: links, Agents: s.Hub, Metrics: s.Metrics, AuthFailures: failures,
	})
	s.Portal = portal.New(portal.Config{
		Store: st, Queuer: q, Agents: s.Hub, Logger: log.With("subsystem", "portal"), PublicURL: cfg.PublicURL,
		Links: links, LinkCodeTTL: cfg.LinkCodeTTL,
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
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
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
	return s, nil
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
// the store.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Hub.Start(); err != nil {
		return errors.Join(err, s.Store.Close())
	}
	if err := s.publisher.Start(); err != nil {
		s.Hub.Close()
		return errors.Join(err, s.Store.Close())
	}
	s.events.start()
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- s.http.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey)
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	loops, stopLoops := context.WithCancel(context.Background())
	gcDone := make(chan struct{})
	go func() { defer close(gcDone); s.runGCLoop(loops) }()
	transitions := s.Store.Feed().Subscribe(s.Store.Feed().Head())
	followDone := make(chan struct{})
	go func() { defer close(followDone); s.Metrics.Follow(loops, transitions) }()
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
	s.Hub.Close()
	s.publisher.Close()
	s.events.close()
	stopLoops()
	<-gcDone
	<-followDone
	if serveErr == nil {
		serveErr = <-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	closeErr := s.Store.Close()
	s.log.Info("coordinator stopped")
	return errors.Join(serveErr, shutErr, closeErr)
}

// runGCLoop prunes old agent events, folds the dataset counts' pending
// changes and reclaims the space of replaced cache snapshots and staged
// pages every GCInterval, until ctx ends.
func (s *Server) runGCLoop(ctx context.Context) {
	tick.Every(ctx, s.cfg.GCInterval, s.collectGarbage)
}

// collectGarbage is one pass of the GC loop.
func (s *Server) collectGarbage(ctx context.Context) {
	s.pruneEvents(ctx)
	// Reading the dataset counts folds their pending changes: without a
	// scraper, these stay bounded by one GC interval's transitions.
	if _, err := s.Store.DatasetCounts(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("fold dataset counts", "err", err)
	}
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
