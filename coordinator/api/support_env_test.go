package api

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/publish"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// testHeartbeat is the hub's heartbeat in the support tests: an agent
// silent for three of them is disconnected.
const testHeartbeat = 500 * time.Millisecond

// testLeaseTTL is the hub's lease; the tests move the clock past it.
const testLeaseTTL = time.Minute

// sampleCSV is the CSV sample `make run` syncs.
const sampleCSV = "../../testdata/sample-csv"

// supportEnv is env with the agents' side: a real hub on the same
// loopback server, feeding the same metrics.
type supportEnv struct {
	*env
	hub     *hub.Hub
	metrics *metrics.Metrics
	log     *slog.Logger
}

func newSupportEnv(t *testing.T) *supportEnv {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	m := metrics.New()
	q := queue.New(st)
	q.Now = clk.Now
	pub := publish.New(publish.Config{Store: st, Logger: log, Now: clk.Now, Metrics: m})
	h := hub.New(hub.Config{Store: st, Queuer: q, Publisher: pub, Feed: st.Feed(), Logger: log, Now: clk.Now, LeaseTTL: testLeaseTTL,
		HeartbeatInterval: testHeartbeat, ExpiryInterval: time.Hour, Metrics: m})
	m.WatchAgentsOnline(h)
	m.WatchDatasets(st)
	fl := fleet.New(fleet.Config{Store: st, Feed: st.Feed(), Logger: log, Now: clk.Now})
	srv := New(Config{Store: st, Queuer: q, Logger: log, PublicURL: "http://ferry.test", Now: clk.Now,
		Agents: h, Metrics: m, Fleet: fl})
	srv.SetReady(true)
	mux := http.NewServeMux()
	mux.Handle("/agent/", h.Handler())
	mux.Handle("/", srv)
	hs := httptest.NewServer(mux)
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	fl.Start()
	t.Cleanup(func() {
		fl.Close()
		h.Close()
		pub.Close()
		hs.Close()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if err := EnsureKey(t.Context(), st, adminKey, "admin", store.ScopeClient, clk.Now()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: hs.URL, st: st, clock: clk, q: q, srv: srv}
	return &supportEnv{env: e, hub: h, metrics: m, log: log}
}

// linkedAgent creates a company with a csv connection bound to a new agent
// and returns the company, the connection and the agent's credential.
func (e *supportEnv) linkedAgent(agentID string) (companyID, connID, cred string) {
	e.t.Helper()
	companyID = e.company("Agent Co " + agentID)
	conn := e.connection(companyID, "csv")
	cred = "fra_test_" + agentID
	err := e.st.CreateAgent(e.t.Context(), store.Agent{ID: agentID, CredentialHash: hub.HashCredential(cred), Created: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.link(companyID, conn.ID, agentID)
	return companyID, conn.ID, cred
}

// supportKey creates a support-scope key through the API and returns its
// Authorization header.
func (e *supportEnv) supportKey() string {
	e.t.Helper()
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "support desk", "scope": "support"}, &k)
	return "Bearer " + k.APIKey
}

// gatedSource is the CSV sample, except that fetching the gated type waits
// until the test opens the gate: that dataset stays in the agent's hands.
type gatedSource struct {
	source.Source
	gated dataset.DataType
	gate  chan struct{}
}

func (g *gatedSource) Fetch(ctx context.Context, dt dataset.DataType) (source.Batch, error) {
	if dt == g.gated {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Source.Fetch(ctx, dt)
}

// agentRun is a running real agent (agent/worker).
type agentRun struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

type agentOpts struct {
	url     string // the coordinator, or a proxy to it
	version string
	gated   dataset.DataType
	gate    chan struct{}
	checks  func(context.Context) []protocol.Check
	// backoff, when set, is the reconnect delay (min and max).
	backoff time.Duration
	// log, when set, is the agent's logger.
	log *slog.Logger
}

// startAgent runs a worker for the connection until the test ends.
func (e *supportEnv) startAgent(companyID, connID, cred string, o agentOpts) *agentRun {
	e.t.Helper()
	src, err := sources.Open("csv", sampleCSV)
	if err != nil {
		e.t.Fatal(err)
	}
	if o.url == "" {
		o.url = e.url
	}
	if o.gate == nil {
		o.gate = make(chan struct{})
	}
	if o.log == nil {
		o.log = e.log.With("side", "agent")
	}
	cfg := worker.Config{
		Coordinator: o.url, Credential: cred, Version: o.version,
		Bindings: []worker.Binding{{ConnectionID: connID, CompanyID: companyID, Source: &gatedSource{Source: src, gated: o.gated, gate: o.gate}}},
		Logger:   o.log, HTTP: upload.NewHTTPClient(e.log, nil), Checks: o.checks,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	if o.backoff > 0 {
		cfg.BackoffMin, cfg.BackoffMax = o.backoff, o.backoff
	}
	a := &agentRun{w: worker.New(cfg), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- a.w.Run(ctx) }()
	e.t.Cleanup(a.stop)
	return a
}

func (a *agentRun) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// waitFor polls cond until it holds or 15 s pass.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agent reads GET /agents/{id}, checked against the schema.
func (e *env) agent(id, auth string) agentView {
	e.t.Helper()
	code, body := e.callWith(auth, "GET", "/agents/"+id, nil)
	if code != 200 {
		e.t.Fatalf("GET /agents/%s: %d %s", id, code, body)
	}
	checkSchema(e.t, "Agent", body)
	var v agentView
	if err := json.Unmarshal(body, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// events reads GET /agents/{id}/events (newest first), checked against
// the schema.
func (e *env) events(id string) []agentEventView {
	e.t.Helper()
	var page struct {
		Results []agentEventView `json:"results"`
	}
	body := e.must(200, "GET", "/agents/"+id+"/events?pageSize=5000", nil, &page)
	checkSchema(e.t, "AgentEvents", body)
	return page.Results
}

// hasEvent reports whether the events hold one of type typ whose reason
// (or detail) contains want.
func hasEvent(evs []agentEventView, typ, want string) bool {
	for _, ev := range evs {
		if ev.Type == typ && (strings.Contains(ev.Reason, want) || strings.Contains(ev.Detail, want)) {
			return true
		}
	}
	return false
}

// proxy is a TCP proxy between an agent and the coordinator that can add
// latency towards the agent and freeze, as a machine that dies or a
// network that drops everything does: connections stay open and nothing
// flows, so neither side sees a close.
type proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu     sync.Mutex
	frozen chan struct{} // closed while flowing; a new open one when frozen
	flow   chan struct{}
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string, delay time.Duration) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: strings.TrimPrefix(target, "http://"), delay: delay, flow: make(chan struct{})}
	close(p.flow)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

// freeze stops every byte, of open and new connections alike.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flow = make(chan struct{})
}

func (p *proxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flow
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pipe(s, c, 0) }()
		go func() { defer p.wg.Done(); p.pipe(c, s, p.delay) }()
	}
}

// pipe copies from src to dst, each chunk after delay, while not frozen.
func (p *proxy) pipe(dst, src net.Conn, delay time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if delay > 0 {
				time.Sleep(delay) // latency on the wire, not synchronisation
			}
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	select {
	case <-p.flow:
	default:
		close(p.flow)
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// scrape reads GET /metrics with the given auth and returns series ->
// value, series written as Prometheus does (name{label="v",...}).
func (e *env) scrape(auth string) map[string]float64 {
	e.t.Helper()
	code, body := e.callWith(auth, "GET", "/metrics", nil)
	if code != 200 {
		e.t.Fatalf("GET /metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
