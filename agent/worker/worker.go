// Package worker is the agent's runtime: it keeps one websocket to the
// coordinator, claims offered datasets, reads them from local sources,
// uploads them and reports every transition until it is acknowledged.
package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/update"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Binding is one connection the agent serves, with its opened source.
type Binding struct {
	ConnectionID string
	CompanyID    string
	Source       source.Source
}

// Config is what a Worker runs with.
type Config struct {
	// Coordinator is the base URL, http(s)://host:port.
	Coordinator string
	Credential  string
	Bindings    []Binding
	// Concurrency is how many reads of the sources run at once (2 when
	// unset). A read of a source.MultiSource serves the datasets of its
	// connection claimed together, up to one of each data type (a GnuCash
	// book is read once for all of them); of another source, one dataset.
	Concurrency int
	Version     string
	Logger      *slog.Logger
	TLS         *tls.Config
	HTTP        *retryablehttp.Client
	// BackoffMin and BackoffMax bound the reconnect backoff (1 s and 60 s).
	BackoffMin, BackoffMax time.Duration
	// StatusFile, when set, receives the agent's status as JSON.
	StatusFile string
	// Checks runs the agent's self-checks when the coordinator asks for
	// diagnostics (agent/diagnose); nil answers with none.
	Checks func(ctx context.Context) []protocol.Check
	// Bundle collects a support bundle (agent/bundle) when support asks
	// for one; nil: the agent does not offer support bundles.
	Bundle func(ctx context.Context, w io.Writer) error
	// LogLevel is the level the agent's loggers log at, which support may
	// raise for a while; BaseLevel is the agent's own, which it falls
	// back to. Nil: the agent does not offer its log level from afar.
	LogLevel  *slog.LevelVar
	BaseLevel slog.Level
	// NetDial, when set, opens the control channel's TCP connections (the
	// load tool spreads simulated agents over source addresses with it);
	// DialTLS its TLS ones, handshake done (ferry-agent's transport.Path,
	// which goes through the agent's proxy). When either is set, the
	// environment's proxy is not read: the dial goes where it must.
	NetDial, DialTLS func(ctx context.Context, network, addr string) (net.Conn, error)
	// Update updates the agent when the coordinator says so
	// (agent/update); nil, or one that is not Able: the agent does not
	// offer it.
	Update *update.Updater
}

// Worker is a running agent. Run it once.
type Worker struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	session *session        // the live connection; nil while offline
	jobs    map[string]*job // by dataset id: work under a lease
	waiting []protocol.Offer
	outbox  *outbox
	status  Status
	jobWG   sync.WaitGroup
	diag    diagRuns
	// gathering holds by connection the datasets claimed for its next
	// read, which starts once its claims are all answered; reads counts
	// the reads running (both w.mu).
	gathering map[string]*gathered
	reads     int
	// bundling: a support bundle is being collected or uploaded (w.mu).
	bundling bool
	// raise is the log level support raised (w.mu).
	raise   raisedLevel
	ignored rareLog // messages the agent did not ask for, or refused
	// updating is the version an update taken on goes to, "" when none
	// (w.mu): the agent claims nothing meanwhile.
	updating string
	// restart stops Run for the agent to restart (ErrRestart, or
	// update.ErrRolledBack), which Run returns.
	restart context.CancelCauseFunc
	// after is the connect loop's timer (time.After; tests count the
	// waits without them).
	after func(time.Duration) <-chan time.Time
	// uploads is the window its page writers share: no more requests
	// in flight than the coordinator takes from one agent.
	uploads *upload.Window
}

// New builds a worker.
func New(cfg Config) *Worker {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 2
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = time.Minute
	}
	return &Worker{cfg: cfg, log: cfg.Logger, jobs: map[string]*job{}, gathering: map[string]*gathered{}, outbox: newOutbox(),
		after: time.After, uploads: upload.NewWindow(protocol.UploadsPerAgent)}
}

// Run connects and serves until ctx ends; on the way out it cancels the
// datasets in hand (their leases expire and they are queued again) and
// waits for them.
//
// Run returns ErrRestart when a new version was swapped in, and
// update.ErrRolledBack when this one was swapped out: the agent exits to
// be started again through the link.
func (w *Worker) Run(ctx context.Context) error {
	parent := ctx
	ctx, w.restart = context.WithCancelCause(ctx)
	jobCtx, cancelJobs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if w.cfg.Update != nil && w.cfg.Update.Pending() != nil {
		wg.Add(1)
		go func() { defer wg.Done(); w.runHealthDeadline(ctx) }()
	}
	defer func() {
		w.restart(nil)
		cancelJobs()
		w.jobWG.Wait()
		wg.Wait()
		w.stopRaise()
	}()
	err := w.runConnectLoop(ctx, jobCtx)
	if cause := context.Cause(ctx); parent.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// runConnectLoop keeps a session up, reconnecting with exponential backoff
// and full jitter, until ctx ends. The backoff grows with the attempts
// that failed in a row: a session the coordinator welcomed, or one that
// lasted BackoffMax, starts the count again. (Counted from the session's
// start only, an agent refused a few times as busy in a reconnect burst
// and welcomed then kept its grown backoff for a minute, and waited up to
// a minute to come back after the coordinator's next restart.) A busy
// refusal is not a failure: the coordinator is up and said when to come
// back, from its queue, so the agent waits that (BusyError.wait) and its
// backoff does not grow.
func (w *Worker) runConnectLoop(ctx, jobCtx context.Context) error {
	failures := 0
	for {
		started := time.Now()
		welcomed, err := w.runSession(ctx, jobCtx)
		if ctx.Err() != nil {
			return nil
		}
		if welcomed || time.Since(started) > w.cfg.BackoffMax {
			failures = 0
		}
		var (
			busy  *BusyError
			delay time.Duration
		)
		if errors.As(err, &busy) {
			delay = busy.wait()
		} else {
			failures++
			delay = backoff(failures, w.cfg.BackoffMin, w.cfg.BackoffMax)
		}
		w.log.Warn("disconnected from the coordinator", "err", err, "retryIn", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-w.after(delay):
		}
	}
}

// backoff is exponential with full jitter: uniform in [lo, lo*2^n],
// capped at hi, so that many agents coming back spread out.
func backoff(failures int, lo, hi time.Duration) time.Duration {
	ceiling := lo << min(failures, 20)
	if ceiling > hi || ceiling <= 0 {
		ceiling = hi
	}
	return lo + rand.N(ceiling-lo+1)
}

func (w *Worker) dialer() *websocket.Dialer {
	d := &websocket.Dialer{
		HandshakeTimeout:  15 * time.Second,
		TLSClientConfig:   w.cfg.TLS,
		Proxy:             http.ProxyFromEnvironment,
		NetDialContext:    w.cfg.NetDial,
		NetDialTLSContext: w.cfg.DialTLS,
	}
	if d.NetDialContext != nil || d.NetDialTLSContext != nil {
		d.Proxy = nil
	}
	return d
}

// Hostname is this machine's name, as the agent reports it.
func Hostname() string {
	h, _ := os.Hostname()
	return h
}

// OSName is this machine's OS and architecture, as the agent reports them.
func OSName() string { return runtime.GOOS + "/" + runtime.GOARCH }

// BusyError is the coordinator's refusal of a connection while it is busy
// with others' (503 busy before the upgrade, or a busy error in place of
// the welcome): the agent waits After (protocol.BusyRetry when the
// refusal did not say) and up to a second and a quarter of it more, then
// dials again. The coordinator spreads the fleet it refuses over the time
// it needs to admit it (each refusal's Retry-After is a later turn); the
// second undoes the header's rounding to whole seconds, and the quarter
// spreads agents told the same long wait (a coordinator at its longest
// Retry-After, or an older one that told every agent the same 5 s).
type BusyError struct {
	// After is the refusal's Retry-After; 0 when it had none.
	After time.Duration
}

func (e *BusyError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("the coordinator is busy with other agents' connections: retry after %v", e.After)
	}
	return "the coordinator is busy with other agents' connections"
}

// wait is how long to wait before dialling again: uniform in [after,
// after + 1 s + after/4].
func (e *BusyError) wait() time.Duration {
	after := e.After
	if after <= 0 {
		after = protocol.BusyRetry
	}
	return after + rand.N(busyJitter(after)+1)
}

// busyJitter is the most a busy refusal's wait adds to its Retry-After.
func busyJitter(after time.Duration) time.Duration { return time.Second + after/4 }

// ErrUnauthorized: the coordinator refused the credential.
var ErrUnauthorized = errors.New("the coordinator refused this agent's credential (revoked or unlinked); run ferry-agent link again")

// ErrUpgradeRemoved: the coordinator received the control channel's
// request without its websocket upgrade.
var ErrUpgradeRemoved = errors.New("the coordinator received the control channel's request without its websocket upgrade: a proxy on the way removed it; ask IT to let websocket upgrades through to the coordinator (ferry-agent diagnose checks it)")
