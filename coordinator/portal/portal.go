// Package portal serves the Portal, the coordinator's HTML pages under
// /portal: a client or support person signs in with an API key and sees the
// companies, a company's connections (and, for client keys, their link
// pages and a button that issues a link code, shown once), its data status
// (updated live over Server-Sent Events) with a "Queue sync" button per data
// type and "Queue all", each dataset's timeline and validation results,
// the sync windows and pauses of connections, companies and the client,
// and, for support staff, the agents: which are online, their versions
// and update policies, their events, a remote diagnostic, and (client
// keys) revoking a credential; and the agent's releases.
//
// Pages come from html/template, assets are embedded, and the one script is
// hand-written: there is no build step. Sessions are server-side, in memory;
// every form carries the session's CSRF token and cross-origin posts are
// refused.
package portal

import (
	"context"
	"crypto/rand"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
)

//go:embed templates/*.html static
var assets embed.FS

// Config is what the Portal needs from its owner.
type Config struct {
	Store  Store
	Queuer *queue.Queuer
	// Agents (required) is the hub: the agents pages read it and run
	// diagnostics and revocations through it; the menu counts the agents
	// online.
	Agents Agents
	// Fleet (required) draws the fleet page and the agents' strips and
	// round trips.
	Fleet  fleet.Reader
	Logger *slog.Logger
	// PublicURL is the coordinator's address as browsers see it; an https
	// URL makes the cookies Secure. Link URLs are built on it.
	PublicURL string
	// Links builds the link pages' URLs, shown to client keys only; nil:
	// links keyed with a secret of the Portal's own (tests).
	Links *linkcode.Links
	// LinkCodeTTL is how long a code issued in the Portal is valid (7 days
	// when zero).
	LinkCodeTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// SessionIdle ends a session unused this long (2 hours when zero);
	// SessionLifetime ends any session this old (12 hours when zero).
	SessionIdle, SessionLifetime time.Duration
	// LiveInterval is how often a live stream looks for changes (1 s when
	// zero); LiveMax is how long one stream lasts before the browser is
	// asked to reconnect, which checks the session again (10 minutes).
	LiveInterval, LiveMax time.Duration
	// Releases lists the agent's releases on the releases page; nil: the
	// coordinator offers none.
	Releases Releases
}

// Handler is the Portal. Mount it at /portal/; Close ends its live streams.
type Handler struct {
	store     Store
	queuer    *queue.Queuer
	agents    Agents
	fleet     fleet.Reader
	releases  Releases
	log       *slog.Logger
	publicURL string
	links     *linkcode.Links
	codeTTL   time.Duration
	now       func() time.Time
	liveEvery time.Duration
	liveMax   time.Duration
	secure    bool
	// secret keys the sign-in form's CSRF token: derived from the
	// coordinator's (Links), so a form served by one replica posts to any.
	secret   []byte
	sessions *sessions
	// failed counts wrong keys per address, in windows of 10 minutes, in
	// the store; maxSignInFailures in one refuses further sign-ins from
	// there, on every replica.
	failed *ratelimit.Failures
	origin *http.CrossOriginProtection
	mux    *http.ServeMux
	static http.Handler
	// nav is the menu.
	nav []navItem
	// scans holds a token per financial statement being computed.
	scans chan struct{}

	// ctx ends the live streams; wg counts them; closed (under mu) lets
	// no new one start once Close began.
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

type navItem struct{ Name, Path string }

// New builds the Portal.
func New(cfg Config) *Handler {
	h := &Handler{
		store: cfg.Store, queuer: cfg.Queuer, agents: cfg.Agents, fleet: cfg.Fleet, releases: cfg.Releases, log: cfg.Logger, publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		now: cfg.Now, liveEvery: cfg.LiveInterval, liveMax: cfg.LiveMax,
		secure:   strings.HasPrefix(cfg.PublicURL, "https://"),
		sessions: newSessions(cfg.Store, cfg.Logger, orDefault(cfg.SessionIdle, 2*time.Hour), orDefault(cfg.SessionLifetime, 12*time.Hour)),
		failed:   ratelimit.NewFailures(cfg.Store, "signin", maxSignInFailures, 10*time.Minute, cfg.Logger),
		origin:   http.NewCrossOriginProtection(),
		mux:      http.NewServeMux(),
		nav:      []navItem{{"Fleet", "/portal/fleet"}, {"Companies", "/portal/companies"}, {"Agents", "/portal/agents"}, {"Releases", "/portal/releases"}, {"Sync window", "/portal/syncWindow"}},
		scans:    make(chan struct{}, statementScans),
	}
	h.links, h.codeTTL = cfg.Links, orDefault(cfg.LinkCodeTTL, 7*24*time.Hour)
	if h.links == nil {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		h.links = linkcode.NewLinks(h.publicURL, secret)
	}
	h.secret = h.links.Key("portal-signin")
	// Behind a proxy the Host the coordinator sees may not be the one the
	// browser used: the public URL's origin is the Portal's own too.
	if u, err := url.Parse(h.publicURL); err == nil && u.Host != "" {
		_ = h.origin.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.liveEvery = orDefault(h.liveEvery, time.Second)
	h.liveMax = orDefault(h.liveMax, 10*time.Minute)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	static, _ := fs.Sub(assets, "static")
	h.static = http.StripPrefix("/portal/static/", http.FileServerFS(static))
	h.routes()
	return h
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /portal/{$}", h.signedIn(h.index))
	m.HandleFunc("GET /portal/signin", h.signinPage)
	m.HandleFunc("POST /portal/signin", h.signin)
	m.HandleFunc("POST /portal/signout", h.form(h.signout))
	m.HandleFunc("GET /portal/companies", h.signedIn(h.companies))
	m.HandleFunc("GET /portal/companies/{companyId}", h.signedIn(h.company))
	m.HandleFunc("GET /portal/companies/{companyId}/live", h.signedIn(h.companyLive))
	m.HandleFunc("GET /portal/companies/{companyId}/financials", h.signedIn(h.financialsPage))
	m.HandleFunc("POST /portal/companies/{companyId}/queue", h.form(h.queueAll))
	m.HandleFunc("POST /portal/companies/{companyId}/queue/{dataType}", h.form(h.queueOne))
	m.HandleFunc("POST /portal/companies/{companyId}/connections/{connectionId}/linkCode", h.form(h.newLinkCode))
	m.HandleFunc("POST /portal/companies/{companyId}/connections/{connectionId}/pause", h.form(h.pause))
	m.HandleFunc("POST /portal/companies/{companyId}/connections/{connectionId}/resume", h.form(h.resume))
	m.HandleFunc("POST /portal/companies/{companyId}/connections/{connectionId}/syncWindow", h.form(h.setWindow))
	m.HandleFunc("POST /portal/companies/{companyId}/syncWindow", h.form(h.setCompanyWindow))
	m.HandleFunc("GET /portal/syncWindow", h.signedIn(h.clientWindowPage))
	m.HandleFunc("POST /portal/syncWindow", h.form(h.setClientWindow))
	m.HandleFunc("GET /portal/companies/{companyId}/datasets/{datasetId}", h.signedIn(h.datasetPage))
	m.HandleFunc("GET /portal/companies/{companyId}/datasets/{datasetId}/live", h.signedIn(h.datasetLive))
	m.HandleFunc("GET /portal/fleet", h.signedIn(h.fleetPage))
	m.HandleFunc("GET /portal/rollouts/{version}", h.signedIn(h.rolloutPage))
	m.HandleFunc("GET /portal/companies/{companyId}/reports/{report}", h.signedIn(h.reportPage))
	m.HandleFunc("GET /portal/agents", h.signedIn(h.agentsPage))
	m.HandleFunc("GET /portal/agents/live", h.signedIn(h.agentsLive))
	m.HandleFunc("GET /portal/agents/{agentId}", h.signedIn(h.agentPage))
	m.HandleFunc("GET /portal/agents/{agentId}/live", h.signedIn(h.agentLive))
	m.HandleFunc("POST /portal/agents/{agentId}/diagnostics", h.form(h.diagnose))
	m.HandleFunc("GET /portal/agents/{agentId}/revoke", h.signedIn(h.revokePage))
	m.HandleFunc("POST /portal/agents/{agentId}/revoke", h.form(h.revoke))
	m.HandleFunc("GET /portal/releases", h.signedIn(h.releasesPage))
	m.HandleFunc("GET /portal/static/{file}", h.asset)
	m.HandleFunc("/portal/", h.signedIn(h.notFound))
}

// ServeHTTP serves the Portal with headers that keep its pages out of
// frames and caches and allow no inline script.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// Close ends the live streams and waits for them; pages still being served
// finish as usual. Call it when the HTTP server shuts down.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	h.static.ServeHTTP(w, r)
}

// index is the Portal's home: the fleet for a support key, the companies
// for a client key.
func (h *Handler) index(w http.ResponseWriter, r *http.Request, s *session) {
	http.Redirect(w, r, home(s.scope), http.StatusSeeOther)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, s *session) {
	h.fail(w, r, s, http.StatusNotFound, "There is no such page.")
}

// Prune deletes the sessions that expired, idle or past their lifetime;
// the replicas' leader calls it now and then.
func (h *Handler) Prune(ctx context.Context) error {
	n, err := h.sessions.prune(ctx, h.now())
	if n > 0 {
		h.log.Info("pruned portal sessions", "deleted", n)
	}
	return err
}
