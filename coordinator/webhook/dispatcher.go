package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Store is what the dispatcher needs of the store: the outbox.
type Store interface {
	// DueDeliveries returns deliveries due at or before now, earliest
	// first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error)
	Webhooks(ctx context.Context) ([]store.Webhook, error)
	DeliveryDone(ctx context.Context, d store.Delivery, a store.DeliveryAttempt) error
	DeliveryFailed(ctx context.Context, d store.Delivery, a store.DeliveryAttempt, next time.Time, disableAfter time.Duration) (bool, error)
}

// Config is what the dispatcher needs from its owner.
type Config struct {
	Store Store
	// Feed is the store's change feed: a change that puts deliveries in
	// the outbox wakes the loop.
	Feed   *store.Feed
	Logger *slog.Logger
	// PublicURL is the coordinator's address, for the links in payloads.
	PublicURL string
	// Now is the clock of the outbox (due times, backoff, disabling);
	// time.Now when nil.
	Now func() time.Time
	// AllowPrivate lets deliveries go to loopback and private addresses;
	// off, they are refused at dial time.
	AllowPrivate bool
	// Interval is the longest the loop sleeps between two reads of the
	// outbox; 1 min when 0. It wakes before: when a change on the feed
	// puts deliveries in the outbox, and when the earliest delivery
	// waiting for its retry is due. The interval only bounds how long a
	// delivery the feed missed (a gap, a store that publishes none) waits.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed delivery is
	// tried again, doubling each attempt; 30 s and 1 h when 0.
	MinBackoff, MaxBackoff time.Duration
	// DisableAfter is how long a consumer may keep failing before it is
	// disabled; 24 h when 0.
	DisableAfter time.Duration
	// RetryMax is how many times one delivery is retried at once (by
	// go-retryablehttp, waits RetryWait..4*RetryWait) before it goes back
	// to the outbox; 2 when 0, none when negative.
	RetryMax  int
	RetryWait time.Duration
	// Timeout bounds one HTTP attempt; 10 s when 0.
	Timeout time.Duration
	// Concurrency is how many deliveries run at once; 8 when 0.
	Concurrency int
	// Metrics counts the attempts by outcome and the delivery latency; nil
	// records nothing.
	Metrics *metrics.Metrics
}

// Dispatcher delivers the outbox. Start runs its loop; Close stops it.
type Dispatcher struct {
	cfg    Config
	log    *slog.Logger
	client *retryablehttp.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.DisableAfter == 0 {
		cfg.DisableAfter = 24 * time.Hour
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 2
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	return &Dispatcher{cfg: cfg, log: cfg.Logger, client: newClient(cfg)}
}

// newClient is the HTTP client of deliveries: go-retryablehttp over a
// transport that dials no internal address (unless allowed), follows no
// redirect and uses no proxy from the environment.
func newClient(cfg Config) *retryablehttp.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = Control
	}
	tr := &http.Transport{
		DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true,
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{
		Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.Logger = nil
	c.RetryMax = max(cfg.RetryMax, 0)
	c.RetryWaitMin, c.RetryWaitMax = cfg.RetryWait, 4*cfg.RetryWait
	c.CheckRetry = checkRetry
	c.Backoff = quickBackoff
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return c
}

// quickBackoff is the wait between go-retryablehttp's quick retries: the
// consumer's Retry-After when it sends one (up to max: a longer one is for
// the outbox), otherwise min doubled per attempt, fully jittered, up to max.
func quickBackoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok {
		return min(d, hi)
	}
	b := lo
	for i := 0; i < attempt && b < hi; i++ {
		b *= 2
	}
	b = min(b, hi)
	return lo/2 + rand.N(b-lo/2+1)
}

// retryAfter reads a 429 or 503 answer's Retry-After, in seconds.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	sec, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || sec < 0 {
		return 0, false
	}
	return time.Duration(sec) * time.Second, true
}

// checkRetry is go-retryablehttp's policy, but a refused address is final.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if errors.Is(err, ErrPrivate) {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// Start runs the delivery loop until Close.
func (d *Dispatcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	// Subscribed before the loop's first read of the outbox: what is
	// put in it after that read wakes the loop.
	sub := d.cfg.Feed.Subscribe(d.cfg.Feed.Head())
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.runDeliverLoop(ctx, sub) }()
}

// Close stops the loop, abandoning deliveries in flight (they stay in the
// outbox), and waits for it.
func (d *Dispatcher) Close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.client.HTTPClient.CloseIdleConnections()
}

// runDeliverLoop delivers what is due, then sleeps until the next
// delivery is due, a change puts new ones in the outbox, or Interval
// passes, until ctx ends.
func (d *Dispatcher) runDeliverLoop(ctx context.Context, sub *store.Subscription) {
	for {
		var err error
		for {
			var n int
			n, err = d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Error("webhook deliveries", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		wait := d.untilDue(ctx)
		if err != nil {
			// What failed may still be due: no faster than once a second.
			wait = max(wait, time.Second)
		}
		if !d.sleep(ctx, sub, wait) {
			return
		}
	}
}

// untilDue is the time until the earliest delivery in the outbox is due,
// at most Interval.
func (d *Dispatcher) untilDue(ctx context.Context) time.Duration {
	now := d.cfg.Now()
	next, err := d.cfg.Store.DueDeliveries(ctx, now.Add(d.cfg.Interval), 1)
	if err != nil || len(next) == 0 {
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhook outbox: next due delivery", "err", err)
		}
		return d.cfg.Interval
	}
	return max(next[0].Due.Sub(now), 0)
}

// sleep waits for wait to pass, a change that puts deliveries in the
// outbox, or a gap in the feed (which may have hidden one); false when ctx
// ended.
func (d *Dispatcher) sleep(ctx context.Context, sub *store.Subscription, wait time.Duration) bool {
	ok, gap := sub.Wait(ctx, wait, func(c store.Change) bool { return c.Deliveries > 0 })
	if gap != nil {
		d.log.Warn("change feed gap: reading the outbox", "err", gap)
		d.cfg.Metrics.FeedGap("webhook")
	}
	return ok
}

// DeliverDue makes one attempt at each delivery due now (at most a batch)
// and returns how many it attempted.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	due, err := d.cfg.Store.DueDeliveries(ctx, d.cfg.Now(), 100)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	hooks, err := d.cfg.Store.Webhooks(ctx)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]store.Webhook, len(hooks))
	for _, w := range hooks {
		byID[w.ID] = w
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	r := &round{failed: map[string]bool{}}
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, dl := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = d.deliver(ctx, r, dl, byID[dl.WebhookID])
		}()
	}
	wg.Wait()
	return len(due), errors.Join(errs...)
}

// round is one read of the outbox: the consumers that failed in it.
type round struct {
	mu     sync.Mutex
	failed map[string]bool
}

func (r *round) fail(id string) { r.mu.Lock(); r.failed[id] = true; r.mu.Unlock() }
func (r *round) down(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[id]
}

// deliver makes one attempt at dl and records its outcome in the outbox.
// Once a consumer failed in this round its other deliveries are not tried:
// they wait for its backoff, so that a consumer that is down, with a
// backlog, does not hold up the others.
func (d *Dispatcher) deliver(ctx context.Context, r *round, dl store.Delivery, w store.Webhook) error {
	a := store.DeliveryAttempt{
		WebhookID: dl.WebhookID, EventID: dl.Event.ID, EventType: dl.Event.Type, Attempt: dl.Attempt + 1,
	}
	if w.ID == "" || w.Disabled {
		a.At, a.Outcome, a.Error = d.cfg.Now(), store.OutcomeDropped, "consumer deleted or disabled"
		return d.counted(d.cfg.Store.DeliveryDone(ctx, dl, a), metrics.WebhookDisabled, 0)
	}
	if r.down(w.ID) {
		a.At, a.Attempt, a.Error = d.cfg.Now(), dl.Attempt, "not tried: the consumer failed another delivery just now"
		disabled, err := d.cfg.Store.DeliveryFailed(ctx, dl, a, a.At.Add(d.backoff(max(dl.Attempt, 1))), d.cfg.DisableAfter)
		if disabled {
			return d.counted(err, metrics.WebhookDisabled, 0)
		}
		return err // no attempt was made: nothing to count
	}
	status, wait, err := d.post(ctx, w, dl.Event)
	if ctx.Err() != nil {
		return nil // stopping: the delivery stays due
	}
	a.At, a.StatusCode = d.cfg.Now(), status
	log := d.log.With("webhook", w.ID, "event", dl.Event.ID, "eventType", dl.Event.Type, "attempt", a.Attempt)
	if err == nil && status >= 200 && status < 300 {
		a.Outcome = store.OutcomeDelivered
		log.Debug("webhook delivered", "status", status)
		return d.counted(d.cfg.Store.DeliveryDone(ctx, dl, a), metrics.WebhookDelivered, a.At.Sub(dl.Event.Generated))
	}
	if err != nil {
		a.Error = err.Error()
	} else {
		a.Error = fmt.Sprintf("consumer answered %d", status)
	}
	r.fail(w.ID)
	// The consumer's Retry-After, when longer than the backoff, is honoured
	// up to MaxBackoff.
	next := a.At.Add(max(d.backoff(a.Attempt), min(wait, d.cfg.MaxBackoff)))
	disabled, serr := d.cfg.Store.DeliveryFailed(ctx, dl, a, next, d.cfg.DisableAfter)
	if disabled {
		log.Warn("webhook consumer disabled: it kept failing", "for", d.cfg.DisableAfter, "err", a.Error)
		return d.counted(serr, metrics.WebhookDisabled, 0)
	}
	log.Info("webhook delivery failed; retrying later", "next", next, "err", a.Error)
	return d.counted(serr, metrics.WebhookFailed, 0)
}

// counted counts an attempt whose outcome the store recorded (err nil)
// and returns err.
func (d *Dispatcher) counted(err error, outcome string, sinceGenerated time.Duration) error {
	if err == nil {
		d.cfg.Metrics.WebhookDelivery(outcome, sinceGenerated)
	}
	return err
}

// backoff is the wait after the attempt-th failure: MinBackoff doubled per
// attempt up to MaxBackoff, the upper half jittered.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b/2 + rand.N(b/2+1)
}

// post sends one event to a consumer, signed; it returns the status and
// the consumer's Retry-After.
func (d *Dispatcher) post(ctx context.Context, w store.Webhook, e store.WebhookEvent) (int, time.Duration, error) {
	body, err := Render(e, d.cfg.PublicURL)
	if err != nil {
		return 0, 0, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, w.URL, body)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ferry-Webhooks/1")
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(EventTypeHeader, e.Type)
	// Signed with the wall clock, which the receiver compares with its own;
	// go-retryablehttp's quick retries, seconds apart, keep the signature.
	req.Header.Set(SignatureHeader, Sign(w.Secret, time.Now(), body))
	resp, err := d.client.Do(req)
	if resp != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		wait, _ := retryAfter(resp)
		return resp.StatusCode, wait, nil
	}
	// Without the URL, which may carry a token the client put in it: the
	// error goes to the logs.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return 0, 0, err
}
