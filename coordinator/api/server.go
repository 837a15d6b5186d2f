// Package api serves the coordinator's REST API in the Codat Platform API's
// shapes: companies, connections, queueing, data status, history, validation
// results and the synced data, behind API-key authentication.
package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Config is what the API needs from its owner.
type Config struct {
	Store  Store
	Queuer *queue.Queuer
	Logger *slog.Logger
	// PublicURL is the coordinator's address as clients and agents see it,
	// without a trailing slash; link URLs are built on it.
	PublicURL string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// LinkCodeTTL is how long a link code is valid; 7 days when zero.
	LinkCodeTTL time.Duration
	// Links builds the link URLs (linkUrl, redirect); nil: links keyed with
	// a secret of this Server's own, which a link page elsewhere cannot
	// check (tests of the API alone).
	Links *linkcode.Links
	// WebhookAllowPrivate accepts webhook URLs on loopback and private
	// addresses (refused by default: a client must not make Ferry call
	// into its own network).
	WebhookAllowPrivate bool
	// Agents (required) is the hub: the support endpoints read the agents'
	// state through it and run diagnostics and revocations.
	Agents Agents
	// Metrics counts requests and serves GET /metrics; nil: the endpoint
	// serves an empty registry.
	Metrics *metrics.Metrics
	// SortScans is how many requests for synced data with orderBy may
	// scan the cache at once; others wait for their turn. 2 when 0.
	SortScans int
	// AuthFailures limits wrong API keys per source address (shared with
	// the hub's agent credentials); nil: no limit.
	AuthFailures *ratelimit.Failures
	// Fleet (required) answers GET /fleet and the agents' connectivity and
	// round trips.
	Fleet fleet.Reader
	// Releases lists the agent's releases (GET /agentReleases); nil:
	// none.
	Releases Releases
}

// Server is the REST API.
type Server struct {
	store     Store
	queuer    *queue.Queuer
	log       *slog.Logger
	publicURL string
	now       func() time.Time
	codeTTL   time.Duration
	links     *linkcode.Links
	agents    Agents
	fleet     fleet.Reader
	releases  Releases
	metrics   *metrics.Metrics
	failures  *ratelimit.Failures
	ready     atomic.Bool
	mux       *http.ServeMux
	// sorts holds a token per sorted scan of the cache under way;
	// sortWaiting counts the requests waiting for one.
	sorts       chan struct{}
	sortWaiting atomic.Int32

	// webhookAllowPrivate: see Config.WebhookAllowPrivate.
	webhookAllowPrivate bool
}

// New builds the API; call SetReady(true) once the coordinator is serving.
func New(cfg Config) *Server {
	s := &Server{
		store: cfg.Store, queuer: cfg.Queuer, log: cfg.Logger,
		publicURL: cfg.PublicURL, now: cfg.Now, codeTTL: cfg.LinkCodeTTL,
		links: cfg.Links, agents: cfg.Agents, fleet: cfg.Fleet, releases: cfg.Releases, metrics: cfg.Metrics, failures: cfg.AuthFailures, mux: http.NewServeMux(),
		sorts: make(chan struct{}, cmp.Or(max(cfg.SortScans, 0), 2)),
	}
	if s.links == nil {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		s.links = linkcode.NewLinks(cfg.PublicURL, secret)
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.webhookAllowPrivate = cfg.WebhookAllowPrivate
	if s.now == nil {
		s.now = time.Now
	}
	if s.codeTTL == 0 {
		s.codeTTL = 7 * 24 * time.Hour
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// notFound answers a path no route matches: an operation of Codat's that
// Ferry does not offer is refused (notoffered.go); otherwise 405 when
// another method would match it, 404 when none would.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if op, ok := refusedOperation(r); ok {
		s.refuse(w, r, op)
		return
	}
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, errorf(http.StatusMethodNotAllowed, CodeMethodRefused,
			"%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	s.writeError(w, r, errorf(http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// SetReady says whether /readyz reports ready.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Route is one endpoint of the API.
type Route struct {
	Method string
	Path   string
	// Scope is the least scope allowed; "" for no authentication.
	Scope   store.Scope
	Handler func(http.ResponseWriter, *http.Request) error
}

// Routes returns every endpoint the API registers; the OpenAPI document
// must list exactly these.
func (s *Server) Routes() []Route { return s.routes() }

func (s *Server) routes() []Route {
	const c, sup = store.ScopeClient, store.ScopeSupport
	return []Route{
		{"GET", "/healthz", "", s.healthz},
		{"GET", "/readyz", "", s.readyz},
		{"GET", "/openapi.json", "", s.openapi},
		{"GET", "/static/{file}", "", s.logo},
		{"GET", "/companies", sup, s.listCompanies},
		{"POST", "/companies", c, s.createCompany},
		{"GET", "/companies/{companyId}", sup, s.getCompany},
		{"PATCH", "/companies/{companyId}", c, s.patchCompany},
		{"DELETE", "/companies/{companyId}", c, s.deleteCompany},
		{"GET", "/companies/{companyId}/connections", sup, s.listConnections},
		{"POST", "/companies/{companyId}/connections", c, s.createConnection},
		{"GET", "/companies/{companyId}/connections/{connectionId}", sup, s.getConnection},
		{"PATCH", "/companies/{companyId}/connections/{connectionId}", c, s.patchConnection},
		{"DELETE", "/companies/{companyId}/connections/{connectionId}", c, s.deleteConnection},
		{"POST", "/companies/{companyId}/connections/{connectionId}/linkCode", c, s.newLinkCode},
		{"GET", "/companies/{companyId}/connections/{connectionId}/syncWindow", sup, s.getConnectionSyncWindow},
		{"PUT", "/companies/{companyId}/connections/{connectionId}/syncWindow", c, s.putConnectionSyncWindow},
		{"DELETE", "/companies/{companyId}/connections/{connectionId}/syncWindow", c, s.deleteConnectionSyncWindow},
		{"POST", "/companies/{companyId}/connections/{connectionId}/pause", c, s.pauseConnection},
		{"POST", "/companies/{companyId}/connections/{connectionId}/resume", c, s.resumeConnection},
		{"GET", "/integrations", sup, s.listIntegrations},
		{"GET", "/integrations/{platformKey}", sup, s.getIntegration},
		{"POST", "/companies/{companyId}/data/queue/{dataType}", c, s.queueDataType},
		{"POST", "/companies/{companyId}/data/all", c, s.queueAll},
		{"GET", "/companies/{companyId}/dataStatus", sup, s.dataStatus},
		{"GET", "/companies/{companyId}/data/history", sup, s.listHistory},
		{"GET", "/companies/{companyId}/data/history/{datasetId}", sup, s.getHistory},
		{"GET", "/companies/{companyId}/sync/{datasetId}/validation", sup, s.validation},
		{"GET", "/companies/{companyId}/data/financials/balanceSheet", sup, s.getBalanceSheet},
		{"GET", "/companies/{companyId}/data/financials/profitAndLoss", sup, s.getProfitAndLoss},
		{"GET", "/companies/{companyId}/data/{dataType}", sup, s.listRecords},
		{"GET", "/companies/{companyId}/data/{dataType}/{recordId}", sup, s.getRecord},
		{"GET", "/companies/{companyId}/reports/agedDebtor", sup, s.agedDebtor},
		{"GET", "/companies/{companyId}/reports/agedCreditor", sup, s.agedCreditor},
		{"GET", "/profile/syncSettings", sup, s.getProfileSyncSettings},
		{"POST", "/profile/syncSettings", c, s.setProfileSyncSettings},
		{"GET", "/companies/{companyId}/syncSettings", sup, s.getCompanySyncSettings},
		{"POST", "/companies/{companyId}/syncSettings", c, s.setCompanySyncSettings},
		{"GET", "/profile/syncWindow", sup, s.getProfileSyncWindow},
		{"PUT", "/profile/syncWindow", c, s.putProfileSyncWindow},
		{"DELETE", "/profile/syncWindow", c, s.deleteProfileSyncWindow},
		{"GET", "/companies/{companyId}/syncWindow", sup, s.getCompanySyncWindow},
		{"PUT", "/companies/{companyId}/syncWindow", c, s.putCompanySyncWindow},
		{"DELETE", "/companies/{companyId}/syncWindow", c, s.deleteCompanySyncWindow},
		{"GET", "/webhooks", sup, s.listWebhooks},
		{"POST", "/webhooks", c, s.createWebhook},
		{"GET", "/webhooks/{webhookId}", sup, s.getWebhook},
		{"DELETE", "/webhooks/{webhookId}", c, s.deleteWebhook},
		{"GET", "/webhooks/{webhookId}/deliveries", sup, s.listDeliveries},
		{"GET", "/agents", sup, s.listAgents},
		{"GET", "/agents/{agentId}", sup, s.getAgent},
		{"PATCH", "/agents/{agentId}", sup, s.patchAgent},
		{"GET", "/agents/{agentId}/events", sup, s.listAgentEvents},
		{"GET", "/agents/{agentId}/connectivity", sup, s.getConnectivity},
		{"GET", "/agents/{agentId}/roundTrips", sup, s.getRoundTrips},
		{"GET", "/fleet", sup, s.getFleet},
		{"GET", "/agentReleases", sup, s.listAgentReleases},
		{"POST", "/agentReleases/{version}/rollout", c, s.startRollout},
		{"GET", "/agentReleases/{version}/rollout", sup, s.getRollout},
		{"POST", "/agentReleases/{version}/rollout/pause", c, s.steerRollout(store.RolloutPaused, store.RolloutRunning)},
		{"POST", "/agentReleases/{version}/rollout/resume", c, s.steerRollout(store.RolloutRunning, store.RolloutPaused)},
		{"POST", "/agentReleases/{version}/rollout/halt", c, s.steerRollout(store.RolloutHalted, store.RolloutRunning, store.RolloutPaused)},
		{"POST", "/agents/{agentId}/diagnostics", sup, s.diagnoseAgent},
		{"POST", "/agents/{agentId}/supportBundle", sup, s.requestBundle},
		{"GET", "/agents/{agentId}/supportBundles", sup, s.listBundles},
		{"GET", "/agents/{agentId}/supportBundles/{bundleId}", sup, s.getBundle},
		{"POST", "/agents/{agentId}/revoke", c, s.revokeAgent},
		{"GET", "/apiKeys", c, s.listAPIKeys},
		{"POST", "/apiKeys", c, s.createAPIKey},
		{"DELETE", "/apiKeys/{apiKeyId}", c, s.deleteAPIKey},
		{"GET", "/metrics", sup, s.serveMetrics},
		{"PUT", "/companies/{companyId}", c, s.replaceCompany},
		{"GET", "/profile", sup, s.getProfile},
		{"PUT", "/profile", c, s.putProfile},
		{"GET", "/corsSettings", sup, s.getCORS},
		{"POST", "/corsSettings", c, s.setCORS},
		{"GET", "/connectionManagement/corsSettings", sup, s.getCORS},
		{"POST", "/connectionManagement/corsSettings", c, s.setCORS},
		{"GET", "/integrations/{platformKey}/branding", sup, s.getBranding},
		{"GET", "/companies/{companyId}/push", sup, s.listPushOperations},
		{"GET", "/companies/{companyId}/push/{pushOperationKey}", sup, s.getPushOperation},
	}
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithValue(r.Context(), correlationKey{}, requestCorrelationID(r))
	r = r.WithContext(ctx)
	w.Header().Set("X-Correlation-Id", correlationID(ctx))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.writeError(w, r, fmt.Errorf("panic: %v", p))
		}
	}()
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// wrap authenticates and runs one route's handler, and counts the request
// by route and status.
func (s *Server) wrap(rt Route) http.Handler {
	route := rt.Method + " " + rt.Path
	ids := pathIDs(rt.Path)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() { s.metrics.APIRequest(route, w.status()) }()
		if rt.Scope != "" {
			key, err := s.authenticate(w, r)
			if err == nil {
				err = allowed(key.Scope, rt.Scope)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, key.Scope))
		}
		if err := checkPathIDs(r, ids); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := rt.Handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

type correlationKey struct{}

// scopeKey holds the scope of the request's API key in its context.
type scopeKey struct{}

// scopeOf is the scope of the request's API key; "" on a route without
// authentication.
func scopeOf(r *http.Request) store.Scope {
	sc, _ := r.Context().Value(scopeKey{}).(store.Scope)
	return sc
}

var correlationPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestCorrelationID keeps a caller's X-Correlation-Id when it is sane,
// and makes one otherwise.
func requestCorrelationID(r *http.Request) string {
	if id := r.Header.Get("X-Correlation-Id"); correlationPattern.MatchString(id) {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if !s.ready.Load() {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "not ready", Retry: true}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
