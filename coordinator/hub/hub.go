// Package hub is the coordinator's side of the agents: their websocket
// control channel (offers, claims, reports, heartbeats, leases), the link
// exchange, the upload data plane, and the support views of live agents.
// It hands each committed upload to a Publisher (package publish), which
// takes it from Validating to Complete.
package hub

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Config is what the hub needs from its owner.
type Config struct {
	Store  Store
	Queuer *queue.Queuer
	// Publisher (required) takes each committed upload on.
	Publisher Publisher
	// Feed (required) is the store's change feed, on which the hub learns
	// of queued work, withdrawn connections and revoked credentials
	// (changes.go).
	Feed   *store.Feed
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// LeaseTTL is how long a lease lasts without a heartbeat; 60 s when 0.
	LeaseTTL time.Duration
	// HeartbeatInterval is how often agents send heartbeats; LeaseTTL/4
	// when 0. An agent silent for three intervals is disconnected.
	HeartbeatInterval time.Duration
	// ExpiryInterval is how often expired leases are looked for; 1 s when 0.
	ExpiryInterval time.Duration
	// LinkAttempts is how many link attempts one address may make per
	// minute; 10 when 0.
	LinkAttempts int
	// Metrics receives the hub's measurements; nil records nothing.
	Metrics *metrics.Metrics
	// UploadMemory bounds the upload pages expanded in memory at once, in
	// uncompressed bytes: a page takes its declared size
	// (protocol.PageBytesHeader), or MaxPageExpandedBytes without one,
	// before its body is read, and waits while that is not free.
	// DefaultUploadMemory when 0.
	UploadMemory int64
	// UploadWait is how long a page waits for its share of UploadMemory
	// before it is refused with 503, which the agent retries; 30 s when 0,
	// well within the HTTP server's ReadTimeout, which covers the wait.
	UploadWait time.Duration
	// AuthFailures limits unknown and revoked agent credentials per source
	// address (shared with the API's keys); nil: no limit.
	AuthFailures *ratelimit.Failures
	// UploadsPerAgent is how many upload requests (pages, commits) one
	// agent may have in flight, across the replicas sharing the store;
	// more are 429. protocol.UploadsPerAgent when 0: the requests an
	// agent's page writers have in flight together at most. What they hold
	// in memory is bounded by UploadMemory, for all agents together.
	UploadsPerAgent int
	// Replica is this coordinator's id among the replicas sharing the
	// store, recorded as the holder of the channels it serves
	// (channels.go); "local" when empty.
	Replica string
	// SweepInterval is how often every live agent is offered its queued
	// work whatever the feed said; DefaultSweepInterval when 0.
	SweepInterval time.Duration
	// OfflineAfter is how long an agent may be offline before it is
	// reported offline (offline.go); DefaultOfflineAfter when 0.
	OfflineAfter time.Duration
	// Releases are the agent's releases agents may download
	// (releases.go); nil: none.
	Releases Releases
	// MinAgentVersion is the oldest agent version given work
	// (minversion.go); "" for none.
	MinAgentVersion string
	// Handshakes bounds the agents' handshakes in progress at once, from
	// the upgrade to the welcome and its Connected event (admission.go);
	// DefaultHandshakes when 0.
	Handshakes int
	// HandshakeWait is how long an agent's upgrade waits for one of
	// Handshakes before it is refused with 503 busy and Retry-After;
	// DefaultHandshakeWait when 0.
	HandshakeWait time.Duration
	// HandshakeTimeout bounds a handshake from its upgrade to its welcome,
	// the hello's arrival included; DefaultHandshakeTimeout when 0.
	HandshakeTimeout time.Duration
	// UpdateHealth is how long an updated agent has to connect and report
	// healthy before it rolls back, sent in each update (update.go);
	// DefaultUpdateHealth when 0.
	UpdateHealth time.Duration
}

// DefaultUploadMemory is Config.UploadMemory's default: one page of the
// largest size, or 32 of the 1 MiB an agent sends. A page costs the heap
// about three times its size while it is decoded and stored (the page, its
// copy in the store's write, the store's write buffer).
const DefaultUploadMemory = protocol.MaxPageExpandedBytes

// Publisher takes the uploads agents commit on from Validating to
// Complete (publish.Publisher).
type Publisher interface {
	// Publish hands over a committed dataset, waiting for room while the
	// publisher is behind; it returns without when the publisher is
	// closing, and the next start resumes the dataset.
	Publish(companyID, datasetID string)
	// Commit is the agent's commit of a small upload (d is Mapping under
	// leaseID), validated and ended in one transaction with the commit;
	// store.ErrTooLarge, with nothing changed, when it is not small.
	// last, unless nil, is the upload's last page, not yet staged, staged
	// in the same transaction; with mapped not zero, d may be Fetching
	// still, and the agent's move to Mapping at mapped comes first.
	Commit(ctx context.Context, d store.Dataset, agentID, leaseID string, last *store.Page, mapped time.Time) (store.Dataset, error)
}

// Hub serves agents. Start runs its loops; Close stops them and every
// agent connection.
type Hub struct {
	cfg   Config
	st    Store
	log   *slog.Logger
	now   func() time.Time
	links *ratelimit.Limit // link attempts per address, per minute
	// admission bounds the handshakes in progress (admission.go).
	admission *admission
	// pageBudget is the upload budget: bytes of pages being expanded.
	pageBudget *budget
	// online is the count of agents online across the replicas
	// (online.go).
	agentsOnline onlineCount

	// upgrades numbers the control channels' upgrades (agentConn.upgrade).
	upgrades atomic.Uint64

	mu     sync.Mutex
	agents map[string]*agentConn // by agent id: the one live connection
	newest map[string]*agentConn // by agent id: its newest connection, welcomed or in its handshake
	turns  map[string]*turn      // by agent id: whose handshake runs
	conns  map[string]*agentConn // by connection id: the live connection serving it
	// answering are the ids of the diagnostics requests of other
	// replicas this one runs now (diagnostics.go).
	answering map[string]bool
	// diagWake is closed at the next diagnostics answer stored anywhere;
	// nil when nobody waits.
	diagWake chan struct{}
	// offline is the leader's watch over the agents' presence reports
	// (offline.go).
	offline offlineWatch
	closed  bool
	connWG  sync.WaitGroup // agent connection handlers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a hub.
func New(cfg Config) *Hub {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 60 * time.Second
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = cfg.LeaseTTL / 4
	}
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = time.Second
	}
	if cfg.LinkAttempts == 0 {
		cfg.LinkAttempts = 10
	}
	if cfg.UploadMemory <= 0 {
		cfg.UploadMemory = DefaultUploadMemory
	}
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = 30 * time.Second
	}
	if cfg.UploadsPerAgent == 0 {
		cfg.UploadsPerAgent = protocol.UploadsPerAgent
	}
	if cfg.Replica == "" {
		cfg.Replica = "local"
	}
	if cfg.UpdateHealth <= 0 {
		cfg.UpdateHealth = DefaultUpdateHealth
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = DefaultOfflineAfter
	}
	if cfg.Handshakes <= 0 {
		cfg.Handshakes = DefaultHandshakes
	}
	if cfg.HandshakeWait <= 0 {
		cfg.HandshakeWait = DefaultHandshakeWait
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now,
		links:      ratelimit.NewLimit(cfg.Store, "link", cfg.LinkAttempts, time.Minute, cfg.Logger),
		pageBudget: newBudget(cfg.UploadMemory),
		admission:  newAdmission(cfg.Handshakes, cfg.HandshakeWait),
		agents:     map[string]*agentConn{}, conns: map[string]*agentConn{},
		newest: map[string]*agentConn{}, turns: map[string]*turn{}, answering: map[string]bool{},
		ctx: ctx, cancel: cancel,
	}
	return h
}

// Start runs the change-feed, sweep and round-trip loops. Lease expiry and the
// coalesced refusals' events, which one replica alone runs, are
// RunExpiryLoop's and RunRefusalLoop's, which the owner runs.
func (h *Hub) Start() error {
	if err := h.releaseOwn(h.ctx); err != nil {
		return fmt.Errorf("release the channels of this replica's last run: %w", err)
	}
	sub := h.cfg.Feed.Subscribe(h.cfg.Feed.Head())
	h.wg.Add(3)
	go func() { defer h.wg.Done(); h.runChangesLoop(h.ctx, sub) }()
	go func() { defer h.wg.Done(); h.runSweepLoop(h.ctx) }()
	go func() { defer h.wg.Done(); h.runRoundTripLoop(h.ctx) }()
	return nil
}

// Close disconnects every agent and stops the loops.
func (h *Hub) Close() {
	h.cancel()
	h.mu.Lock()
	h.closed = true
	conns := make([]*agentConn, 0, len(h.newest))
	for _, c := range h.newest { // the live ones, and those in their handshake
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.close(store.ReasonShutdown)
	}
	h.connWG.Wait()
	h.wg.Wait()
}

// track counts a new connection handler unless the hub is closing.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.connWG.Add(1)
	return true
}

// Handler serves the agent endpoints under /agent/v1/.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.ConnectPath, h.serveConnect)
	mux.HandleFunc("POST "+protocol.LinkPath, h.serveLink)
	mux.HandleFunc("POST "+protocol.UnlinkPath, h.serveUnlink)
	mux.HandleFunc("PUT "+protocol.DatasetsPath+"{id}/pages/{n}", datasetPath(h.servePage))
	mux.HandleFunc("POST "+protocol.DatasetsPath+"{id}/commit", datasetPath(h.serveCommit))
	mux.HandleFunc("PUT "+protocol.DatasetsPath+"{id}/pages/{n}/commit", datasetPath(h.serveLastPage))
	mux.HandleFunc("PUT "+protocol.BundlesPath+"{id}", datasetPath(h.serveBundle))
	mux.HandleFunc("GET "+protocol.ReleasesPath+"{version}/{file}", h.serveRelease)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, protocol.CodeNotFound, "no such agent endpoint")
	})
	return mux
}

// datasetPath answers 404 not_found, before anything else, for a dataset
// id in the path that no dataset can have (store.CheckID): the answer to a
// dataset that does not exist.
func datasetPath(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if store.CheckID(r.PathValue("id")) != nil {
			status, code, msg := storeErr(store.ErrNotFound)
			writeErr(w, status, code, msg)
			return
		}
		next(w, r)
	}
}

// Notify offers the queued work of a connection to its agent, if online.
// The change feed calls it when a dataset is queued; its cost does not grow
// with the number of agents.
func (h *Hub) Notify(connectionID string) {
	if c := h.serving(connectionID); c != nil {
		c.kick()
	}
}

// Revoke tells the agent serving a connection that its binding ended.
func (h *Hub) Revoke(connectionID, reason string) {
	if c := h.serving(connectionID); c != nil {
		c.revoke(connectionID, reason)
	}
}

func (h *Hub) serving(connectionID string) *agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[connectionID]
}

// forget drops a connection from the index if c serves it.
func (h *Hub) forget(connectionID string, c *agentConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[connectionID] == c {
		delete(h.conns, connectionID)
	}
}

// Online reports whether an agent has a live connection.
func (h *Hub) Online(agentID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[agentID] != nil
}

func (h *Hub) online() []*agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*agentConn, 0, len(h.agents))
	for _, c := range h.agents {
		out = append(out, c)
	}
	return out
}

// register makes c the agent's live connection, closing an older one. It
// returns the connections c serves: they are online now; false when c is
// no longer the agent's newest connection (a newer one came during its
// handshake) or the hub is closing.
func (h *Hub) register(c *agentConn) ([]string, bool) {
	ids := c.bound()
	h.mu.Lock()
	if h.newest[c.agentID] != c || h.closed {
		h.mu.Unlock()
		return nil, false
	}
	old := h.agents[c.agentID]
	h.agents[c.agentID] = c
	for _, id := range ids {
		h.conns[id] = c
	}
	h.mu.Unlock()
	if old != nil {
		old.close(store.ReasonSuperseded)
	}
	return ids, true
}

// unregister drops c and returns the connections that went offline with
// it: those it served, when it was the agent's live connection and the hub
// is not closing (a coordinator stopping is not the agent going offline);
// none otherwise. A connection superseded by a newer one was taken out of
// the live ones by supersede (or claimed): it reports none. live says
// whether c was the agent's live connection: its claim is then released.
func (h *Hub) unregister(c *agentConn) ([]string, bool) {
	ids := c.bound()
	h.mu.Lock()
	if h.newest[c.agentID] == c {
		delete(h.newest, c.agentID)
	}
	live := h.agents[c.agentID] == c
	if live {
		delete(h.agents, c.agentID)
	}
	closing := h.closed
	for _, id := range ids {
		if h.conns[id] == c {
			delete(h.conns, id)
		}
	}
	h.mu.Unlock()
	if !live || closing {
		return nil, live
	}
	return ids, true
}

// HashCredential is how an agent credential is stored.
func HashCredential(secret string) []byte {
	s := sha256.Sum256([]byte("ferry-agent-credential:" + secret))
	return s[:]
}

// authenticate finds the agent of a request's Bearer credential, or
// answers the refusal itself and returns false: 429 with Retry-After while
// the address is past the limit of failed authentications (before the
// credential is looked up), 401 for an unknown or revoked credential (a
// failure; a revoked one is recorded as a CredentialRefused event, at most
// one an agent a minute), 500 when the store fails.
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (store.Agent, bool) {
	a, _, ok := h.authenticateFor(w, r, "")
	return a, ok
}

// agentsDataset is the dataset an upload request names, read with its
// credential: err is store.Backend's AgentDataset's.
type agentsDataset struct {
	d   store.Dataset
	err error
}

// authenticateFor is authenticate for a request on dataset datasetID
// (none when empty), read in the same read as the agent
// (AgentDatasetByCredential): one read transaction where there were two,
// each waiting on the writes in flight. The credential is read on every
// request, so a revocation holds at once.
func (h *Hub) authenticateFor(w http.ResponseWriter, r *http.Request, datasetID string) (store.Agent, agentsDataset, bool) {
	if msg, refused := h.cfg.AuthFailures.Refuse(r.Context(), w, r.RemoteAddr, h.now()); refused {
		refuseUnread(w, r, http.StatusTooManyRequests, protocol.CodeRateLimited, msg)
		return store.Agent{}, agentsDataset{}, false
	}
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || secret == "" || len(secret) > 256 {
		refuseUnread(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, "an agent credential is required: Authorization: Bearer fra_…")
		return store.Agent{}, agentsDataset{}, false
	}
	var (
		a   store.Agent
		ds  agentsDataset
		err error
	)
	if datasetID == "" {
		a, err = h.st.AgentByCredential(r.Context(), HashCredential(secret))
	} else {
		a, ds.d, ds.err = h.st.AgentDatasetByCredential(r.Context(), HashCredential(secret), datasetID)
		if a.ID == "" {
			err, ds.err = ds.err, nil
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("look up agent credential", "err", err)
		writeErr(w, http.StatusInternalServerError, protocol.CodeInternal, "internal error")
		return store.Agent{}, agentsDataset{}, false
	}
	if err == nil && a.Revoked.IsZero() {
		return a, ds, true
	}
	h.cfg.AuthFailures.Fail(r.Context(), r.RemoteAddr, h.now())
	if err == nil {
		h.refused(r.Context(), a.ID, r.RemoteAddr, r.Method+" "+r.URL.Path, h.now())
	}
	refuseUnread(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, "unknown or revoked agent credential")
	return store.Agent{}, agentsDataset{}, false
}

// writeErr answers an agent's HTTP call with a protocol error.
func writeErr(w http.ResponseWriter, status int, code protocol.Code, msg string) {
	writeJSON(w, status, protocol.Error{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// storeErr maps a store error to the protocol's code and HTTP status.
func storeErr(err error) (int, protocol.Code, string) {
	var busy *store.InProgressError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, protocol.CodeNotFound, "no such dataset for this agent"
	case errors.Is(err, store.ErrStaleLease):
		return http.StatusConflict, protocol.CodeStaleLease, "the lease no longer holds this dataset"
	case errors.Is(err, rules.ErrHeld):
		return http.StatusConflict, protocol.CodeNotQueued, "the connection is paused or outside its sync window; the dataset is offered again when it may run"
	case errors.Is(err, store.ErrNotQueued):
		return http.StatusConflict, protocol.CodeNotQueued, "the dataset is no longer queued"
	case errors.Is(err, store.ErrTransition), errors.As(err, &busy):
		return http.StatusConflict, protocol.CodeTransition, err.Error()
	}
	return http.StatusInternalServerError, protocol.CodeInternal, "internal error"
}
