package webhook_test

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/metrics"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/webhook"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is a real HTTP server that records what it is sent and answers
// with fail's status while fail returns one.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []delivery
	fail func(n int) int // status for the n-th request (from 1); 0 for 200
	seen chan struct{}
}

type delivery struct {
	header http.Header
	body   []byte
	status int
	env    webhook.Envelope
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{fail: fail, seen: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got) + 1
		status := http.StatusOK
		if r.fail != nil {
			if s := r.fail(n); s != 0 {
				status = s
			}
		}
		d := delivery{header: req.Header.Clone(), body: body, status: status}
		_ = json.Unmarshal(body, &d.env)
		r.got = append(r.got, d)
		r.mu.Unlock()
		w.WriteHeader(status)
		r.seen <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitFor waits until cond holds on the deliveries, up to 10 s.
func (r *receiver) waitFor(t *testing.T, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := r.deliveries(); cond(got) {
			return got
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %d deliveries", what, len(r.deliveries()))
		}
	}
}

func openStore(t *testing.T) *badgerstore.Badger {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// connected records agent-1 coming online for conn-1 of co-1 (created the
// first time) at when, which puts connection.connected in the outbox; it
// returns the event's id.
func connected(t *testing.T, st *badgerstore.Badger, agentEventID string, when time.Time) string {
	t.Helper()
	ctx := t.Context()
	if _, err := st.Company(ctx, "co-1"); errors.Is(err, store.ErrNotFound) {
		must(t, st.CreateCompany(ctx, store.Company{ID: "co-1", Name: "Acme", Created: t0}))
		must(t, st.CreateConnection(ctx, store.Connection{ID: "conn-1", CompanyID: "co-1", PlatformKey: "gnucash",
			Status: store.Linked, AgentID: "agent-1", Created: t0}, store.LinkCode{Hash: []byte("h")}))
	}
	must(t, st.AddAgentEvent(ctx, store.AgentEvent{ID: agentEventID, AgentID: "agent-1", At: when, Type: store.EventConnected,
		Connections: []string{"conn-1"}}))
	return store.PresenceEventID(agentEventID, "conn-1")
}

func addConsumer(t *testing.T, st *badgerstore.Badger, id, url string, types ...string) store.Webhook {
	w := store.Webhook{ID: id, URL: url, EventTypes: types, Secret: "whsec-" + id, Created: t0}
	must(t, st.CreateWebhook(t.Context(), w))
	return w
}

// TestEveryEventTypeArrives runs the dispatcher's loop against a real
// receiver: each event type arrives, signed so that Verify accepts it, in
// Codat's envelope. The loop reads the outbox at most once an hour on its
// own: the store's change feed wakes it for each event.
func TestEveryEventTypeArrives(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	w := addConsumer(t, st, "wh-1", rcv.URL+"/hook", store.EventTypes...)
	d := webhook.New(webhook.Config{Store: st, Feed: st.Feed(), PublicURL: "https://ferry.example", AllowPrivate: true, Interval: time.Hour})
	d.Start()
	defer d.Close()

	ctx := t.Context()
	must(t, st.CreateCompany(ctx, store.Company{ID: "co-1", Name: "Acme", Created: t0}))
	conn := store.Connection{ID: "conn-1", CompanyID: "co-1", PlatformKey: "gnucash", Status: store.Linked, AgentID: "agent-1", Created: t0}
	must(t, st.CreateConnection(ctx, conn, store.LinkCode{Hash: []byte("h")}))
	must(t, st.AddAgentEvent(ctx, store.AgentEvent{ID: "aev-1", AgentID: "agent-1", At: t0, Type: store.EventConnected,
		Connections: []string{"conn-1"}}))
	// The first link's one dataset: read.completed and read.completed.initial.
	_, err := st.QueueDataset(ctx, store.QueueRequest{ID: "ds-1", CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.Invoices, Now: t0,
		FirstLink: []string{"ds-1"}})
	must(t, err)
	_, err = st.Claim(ctx, store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", LeaseID: "l1", Now: t0, TTL: time.Minute})
	must(t, err)
	_, err = st.Report(ctx, store.Report{CompanyID: "co-1", DatasetID: "ds-1", LeaseID: "l1", Actor: "agent-1", To: dataset.FetchError,
		Message: "book locked", ErrorCode: store.ConnErrBookLocked, Now: t0})
	must(t, err)
	must(t, st.AddAgentEvent(ctx, store.AgentEvent{ID: "aev-2", AgentID: "agent-1", At: t0, Type: store.EventDisconnected,
		Connections: []string{"conn-1"}}))
	// Offline for an hour: agent.offline; back: agent.online and the
	// error resolved.
	must(t, st.CreateAgent(ctx, store.Agent{ID: "agent-1", CredentialHash: []byte("cred"), Created: t0, LastSeen: t0}))
	_, err = st.CheckAgentOffline(ctx, "agent-1", t0.Add(time.Hour), 15*time.Minute)
	must(t, err)
	must(t, st.AddAgentEvent(ctx, store.AgentEvent{ID: "aev-3", AgentID: "agent-1", At: t0.Add(2 * time.Hour), Type: store.EventConnected,
		Connections: []string{"conn-1"}}))
	// An update's steps: agent.update.*, with the report.
	for i, typ := range []store.AgentEventType{store.EventUpdateStarted, store.EventUpdateFailed, store.EventUpdateSucceeded, store.EventUpdateRolledBack} {
		must(t, st.AddAgentEvent(ctx, store.AgentEvent{ID: fmt.Sprintf("aev-u%d", i), AgentID: "agent-1", At: t0.Add(2 * time.Hour), Type: typ,
			Connections: []string{"conn-1"}, Update: &store.AgentUpdate{Version: "1.1.0", From: "1.0.0", Status: store.UpdateRolledBack,
				Step: "health", Reason: "not healthy"}}))
	}
	// Deauthorized; a code tried after it expired: connection.failed;
	// then linked again: connection.reconnected; then deleted.
	_, err = st.UpdateConnection(ctx, "co-1", "conn-1", func(c *store.Connection) error { c.Status = store.Deauthorized; return nil })
	must(t, err)
	_, err = st.ReplaceLinkCode(ctx, "co-1", "conn-1", store.LinkCode{Hash: []byte("h-expired"), Expires: t0}, store.Deauthorized)
	must(t, err)
	if _, err = st.RedeemLinkCode(ctx, []byte("h-expired"), "agent-1", t0); !errors.Is(err, store.ErrCodeExpired) {
		t.Fatalf("redeem an expired code: %v", err)
	}
	_, err = st.ReplaceLinkCode(ctx, "co-1", "conn-1", store.LinkCode{Hash: []byte("h2"), Expires: t0.Add(time.Hour)}, store.Deauthorized)
	must(t, err)
	_, err = st.RedeemLinkCode(ctx, []byte("h2"), "agent-1", t0)
	must(t, err)
	must(t, st.DeleteConnection(ctx, "co-1", "conn-1"))

	got := rcv.waitFor(t, "every event type", func(ds []delivery) bool {
		seen := map[string]bool{}
		for _, d := range ds {
			seen[d.env.EventType] = true
		}
		return len(seen) == len(store.EventTypes)
	})
	types := map[string]delivery{}
	for _, g := range got {
		if err := webhook.Verify(w.Secret, g.header.Get(webhook.SignatureHeader), g.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("%s: signature: %v", g.env.EventType, err)
		}
		if g.header.Get(webhook.EventIDHeader) != g.env.ID || g.env.ID == "" {
			t.Errorf("%s: event id header %q, body %q", g.env.EventType, g.header.Get(webhook.EventIDHeader), g.env.ID)
		}
		types[g.env.EventType] = g
	}
	for _, et := range store.EventTypes {
		if _, ok := types[et]; !ok {
			t.Errorf("event %s did not arrive", et)
		}
	}
	var read struct {
		Payload struct {
			ReferenceCompany           struct{ ID, Name string }
			Status, DatasetID, Message string
			Links                      map[string]struct{ Href string } `json:"_links"`
		}
	}
	must(t, json.Unmarshal(types[store.EventReadCompleted].body, &read))
	p := read.Payload
	if p.Status != "FetchError" || p.DatasetID != "ds-1" || p.Message != "book locked" || p.ReferenceCompany.Name != "Acme" {
		t.Errorf("read.completed payload: %+v", p)
	}
	if want := "https://ferry.example/companies/co-1/sync/ds-1/validation"; p.Links["validation"].Href != want {
		t.Errorf("validation link: got %q, want %q", p.Links["validation"].Href, want)
	}
	var initial struct {
		Payload struct {
			ReferenceCompany struct{ ID string }
			DataTypes        []map[string]string
		}
	}
	must(t, json.Unmarshal(types[store.EventReadCompletedInitial].body, &initial))
	if dts := initial.Payload.DataTypes; initial.Payload.ReferenceCompany.ID != "co-1" || len(dts) != 1 ||
		fmt.Sprint(dts[0]) != "map[connectionId:conn-1 dataType:invoices datasetId:ds-1 status:FetchError]" {
		t.Errorf("read.completed.initial payload: %+v", initial.Payload)
	}
	var offline struct {
		Payload struct {
			Connection struct {
				ID                   string
				DataConnectionErrors []map[string]string
			}
			AgentID string
			Error   map[string]string
		}
	}
	var upd struct {
		Payload struct {
			Connection struct{ ID string }
			AgentID    string
			Update     map[string]string
		}
	}
	must(t, json.Unmarshal(types[store.EventAgentUpdateRolledBack].body, &upd))
	if u := upd.Payload; u.AgentID != "agent-1" || u.Connection.ID != "conn-1" ||
		fmt.Sprint(u.Update) != "map[from:1.0.0 reason:not healthy status:RolledBack step:health version:1.1.0]" {
		t.Errorf("agent.update.rolledBack payload: %+v", u)
	}
	must(t, json.Unmarshal(types[store.EventAgentOffline].body, &offline))
	op := offline.Payload
	if op.AgentID != "agent-1" || op.Connection.ID != "conn-1" || op.Error["statusText"] != "AgentOffline" || op.Error["statusCode"] != "503" ||
		op.Error["status"] != "Active" || op.Error["erroredOnUtc"] != "2025-06-02T10:00:00.000Z" {
		t.Errorf("agent.offline payload: %+v", op)
	}
	if n := len(op.Connection.DataConnectionErrors); n != 2 { // the book locked and the agent offline
		t.Errorf("agent.offline: connection.dataConnectionErrors %+v, want 2", op.Connection.DataConnectionErrors)
	}
	must(t, json.Unmarshal(types[store.EventAgentOnline].body, &offline))
	if e := offline.Payload.Error; e["status"] != "Resolved" || e["resolvedOnUtc"] != "2025-06-02T11:00:00.000Z" {
		t.Errorf("agent.online payload's error: %+v", e)
	}
	if err := webhook.Verify("another secret", got[0].header.Get(webhook.SignatureHeader), got[0].body, time.Now(), time.Minute); err == nil {
		t.Errorf("Verify with the wrong secret: got no error")
	}
}

// TestFailThreeTimesThenSucceed: a receiver that fails three times gets
// the event once more, then never again; the quick retries are
// go-retryablehttp's, the later one the outbox's, on the injected clock.
func TestFailThreeTimesThenSucceed(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return 0
	})
	addConsumer(t, st, "wh-1", rcv.URL, store.EventConnectionConnected)
	clk := &clock{t: t0}
	m := metrics.New()
	d := webhook.New(webhook.Config{Store: st, AllowPrivate: true, Now: clk.Now, RetryMax: 2, RetryWait: time.Millisecond, Metrics: m})
	ctx := t.Context()
	ev1 := connected(t, st, "aev-1", t0)

	n, err := d.DeliverDue(ctx)
	must(t, err)
	if n != 1 || len(rcv.deliveries()) != 3 {
		t.Fatalf("first attempt: %d deliveries attempted, %d requests; want 1 and 3 (one try, two quick retries)", n, len(rcv.deliveries()))
	}
	wantSeries(t, m, map[string]float64{
		`ferry_webhook_deliveries_total{outcome="failed"}`:    1, // the quick retries are one attempt
		`ferry_webhook_deliveries_total{outcome="delivered"}`: 0,
	})
	if n, _ := d.DeliverDue(ctx); n != 0 {
		t.Errorf("retried before its backoff: %d", n)
	}
	clk.Add(2 * time.Minute)
	_, err = d.DeliverDue(ctx)
	must(t, err)
	clk.Add(48 * time.Hour)
	n, err = d.DeliverDue(ctx)
	must(t, err)
	got := rcv.deliveries()
	if n != 0 || len(got) != 4 {
		t.Fatalf("after success: attempted %d more, %d requests in all; want 0 and 4", n, len(got))
	}
	ok := 0
	for _, g := range got {
		if g.env.ID != ev1 {
			t.Errorf("event id %q, want %s on every attempt", g.env.ID, ev1)
		}
		if g.status == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("accepted %d times, want exactly once", ok)
	}
	// Delivered two minutes after the event, on the injected clock.
	wantSeries(t, m, map[string]float64{
		`ferry_webhook_deliveries_total{outcome="failed"}`:    1,
		`ferry_webhook_deliveries_total{outcome="delivered"}`: 1,
		`ferry_webhook_delivery_latency_seconds_count`:        1,
		`ferry_webhook_delivery_latency_seconds_sum`:          120,
	})
	log, err := st.DeliveryLog(ctx, "wh-1", 0)
	must(t, err)
	if len(log) != 2 || log[0].Outcome != store.OutcomeDelivered || log[1].Outcome != store.OutcomeRetrying || log[1].StatusCode != 500 {
		t.Errorf("delivery log: %+v", log)
	}
}

// TestFailingConsumerDisabled: a consumer that keeps failing past
// DisableAfter is disabled, and gets nothing more.
func TestFailingConsumerDisabled(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	addConsumer(t, st, "wh-1", rcv.URL, store.EventConnectionConnected)
	clk := &clock{t: t0}
	m := metrics.New()
	d := webhook.New(webhook.Config{Store: st, AllowPrivate: true, Now: clk.Now, RetryMax: -1,
		MinBackoff: time.Minute, MaxBackoff: time.Hour, DisableAfter: 6 * time.Hour, Metrics: m})
	ctx := t.Context()
	connected(t, st, "aev-1", t0)
	for range 20 {
		_, err := d.DeliverDue(ctx)
		must(t, err)
		clk.Add(time.Hour)
	}
	w, err := st.Webhook(ctx, "wh-1")
	must(t, err)
	if !w.Disabled || w.DisabledReason == "" {
		t.Fatalf("consumer failing for 20 h: disabled %v (%q), want disabled", w.Disabled, w.DisabledReason)
	}
	tries := len(rcv.deliveries())
	if tries < 3 || tries > 9 {
		t.Errorf("attempts before disabling: %d, want a few (backoff doubling to 1 h, 6 h)", tries)
	}
	wantSeries(t, m, map[string]float64{
		`ferry_webhook_deliveries_total{outcome="failed"}`:    float64(tries - 1),
		`ferry_webhook_deliveries_total{outcome="disabled"}`:  1, // the attempt that disabled it
		`ferry_webhook_deliveries_total{outcome="delivered"}`: 0,
	})
	connected(t, st, "aev-2", clk.Now())
	n, err := d.DeliverDue(ctx)
	must(t, err)
	if n != 0 || len(rcv.deliveries()) != tries {
		t.Errorf("a disabled consumer was called")
	}
}

// TestPrivateAddressRefusedAtDial: with private addresses not allowed, a
// consumer whose hostname resolves to loopback (localhost, stored without
// the API's check) is refused when dialled, and nothing reaches it.
func TestPrivateAddressRefusedAtDial(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	url := strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1)
	addConsumer(t, st, "wh-1", url, store.EventConnectionConnected)
	clk := &clock{t: t0}
	d := webhook.New(webhook.Config{Store: st, Now: clk.Now, RetryMax: 2, RetryWait: time.Millisecond})
	ctx := t.Context()
	connected(t, st, "aev-1", t0)
	_, err := d.DeliverDue(ctx)
	must(t, err)
	if got := rcv.deliveries(); len(got) != 0 {
		t.Fatalf("the loopback receiver got %d requests", len(got))
	}
	log, err := st.DeliveryLog(ctx, "wh-1", 0)
	must(t, err)
	if len(log) != 1 || !strings.Contains(log[0].Error, "private or loopback") {
		t.Errorf("delivery log: %+v", log)
	}
	if len(log) == 1 && strings.Contains(log[0].Error, "localhost") {
		t.Errorf("the error names the URL, which may hold a token: %q", log[0].Error)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		private      bool // refused as private
		ok           bool
	}{
		{"https://hooks.example.com/ferry", false, false, true},
		{"http://93.184.216.34:8080/x", false, false, true},
		{"http://203.0.113.7:8080/x", false, true, false},
		{"ftp://hooks.example.com/", false, false, false},
		{"javascript:alert(1)", false, false, false},
		{"https:///nohost", false, false, false},
		{"https://user:pw@hooks.example.com/", false, false, false},
		{"http://127.0.0.1:9000/", false, true, false},
		{"http://localhost/", false, true, false},
		{"http://10.1.2.3/", false, true, false},
		{"http://192.168.0.10/", false, true, false},
		{"http://169.254.169.254/latest/meta-data", false, true, false},
		{"http://[::1]/", false, true, false},
		{"http://[::ffff:127.0.0.1]/", false, true, false},
		{"http://[fd00::1]/", false, true, false},
		{"http://100.64.0.1/", false, true, false},
		{"http://0.0.0.0/", false, true, false},
		{"http://127.0.0.1:9000/", true, false, true},
		{"http://localhost/", true, false, true},
	}
	for _, tt := range tests {
		err := webhook.CheckURL(tt.url, tt.allowPrivate)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%q, %v): got %v, want ok=%v", tt.url, tt.allowPrivate, err, tt.ok)
		}
		if got := errors.Is(err, webhook.ErrPrivate); got != tt.private {
			t.Errorf("CheckURL(%q): private %v, want %v (%v)", tt.url, got, tt.private, err)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"ev-1"}`)
	now := time.Unix(1_750_000_000, 0)
	h := webhook.Sign("s3cret", now, body)
	if err := webhook.Verify("s3cret", h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := webhook.Verify("s3cret", h, []byte(`{"id":"ev-2"}`), now, 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("tampered body: got %v", err)
	}
	if err := webhook.Verify("s3cret", h, body, now.Add(time.Hour), 5*time.Minute); !errors.Is(err, webhook.ErrStale) {
		t.Errorf("replayed an hour later: got %v", err)
	}
	if err := webhook.Verify("s3cret", "garbage", body, now, time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("malformed header: got %v", err)
	}
}

// TestRetryAfterHonoured: a consumer answering 429 with Retry-After gets
// the retry no sooner than it asked, even when the backoff is shorter.
func TestRetryAfterHonoured(t *testing.T) {
	st := openStore(t)
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	addConsumer(t, st, "wh-1", srv.URL, store.EventConnectionConnected)
	clk := &clock{t: t0}
	d := webhook.New(webhook.Config{Store: st, AllowPrivate: true, Now: clk.Now, RetryMax: -1, MinBackoff: time.Second})
	ctx := t.Context()
	connected(t, st, "aev-1", t0)
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(9 * time.Minute)
	if got, _ := d.DeliverDue(ctx); got != 0 {
		t.Errorf("retried after 9 minutes, before the consumer's Retry-After of 10")
	}
	clk.Add(2 * time.Minute)
	if got, _ := d.DeliverDue(ctx); got != 1 {
		t.Errorf("not retried after 11 minutes")
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 {
		t.Errorf("requests: %d, want 2", n)
	}
}

// TestDownConsumerDoesNotHoldUpOthers: a failing consumer with a backlog
// is tried once a round, its other deliveries wait for its backoff, and a
// healthy consumer gets all of its own in the same round.
func TestDownConsumerDoesNotHoldUpOthers(t *testing.T) {
	st := openStore(t)
	down := newReceiver(t, func(int) int { return http.StatusBadGateway })
	up := newReceiver(t, nil)
	addConsumer(t, st, "wh-down", down.URL, store.EventConnectionConnected)
	addConsumer(t, st, "wh-up", up.URL, store.EventConnectionConnected)
	clk := &clock{t: t0}
	d := webhook.New(webhook.Config{Store: st, AllowPrivate: true, Now: clk.Now, RetryMax: -1, Concurrency: 1})
	ctx := t.Context()
	for i := range 5 {
		connected(t, st, fmt.Sprint("aev-", i), t0)
	}
	n, err := d.DeliverDue(ctx)
	must(t, err)
	if n != 10 || len(down.deliveries()) != 1 || len(up.deliveries()) != 5 {
		t.Errorf("one round: %d deliveries, %d requests to the failing consumer (want 1), %d to the healthy one (want 5)",
			n, len(down.deliveries()), len(up.deliveries()))
	}
	if n, _ := d.DeliverDue(ctx); n != 0 {
		t.Errorf("%d deliveries due again at once, want the failing consumer's to wait for its backoff", n)
	}
}

// wantSeries scrapes m and checks the given series' values.
func wantSeries(t *testing.T, m *metrics.Metrics, want map[string]float64) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := map[string]float64{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(val, &v); err == nil {
			got[name] = v
		}
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
}

// TestGapReadsTheOutbox: a dispatcher that meets a gap in its feed (here
// a jump in the sequence of a feed that is not the store's, so it hears
// nothing of the store's changes) reads the outbox at once.
func TestGapReadsTheOutbox(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	addConsumer(t, st, "wh-1", rcv.URL, store.EventConnectionConnected)
	feed := store.NewFeed(16)
	clk := &clock{t: t0}
	d := webhook.New(webhook.Config{Store: st, Feed: feed, Now: clk.Now, AllowPrivate: true, Interval: time.Hour})
	d.Start()
	defer d.Close()
	// Due in an hour of the dispatcher's clock, whenever its first read of
	// the outbox runs: then due at once, but only a read finds it.
	connected(t, st, "aev-1", t0.Add(time.Hour))
	clk.Add(2 * time.Hour)
	if err := feed.PublishAt(store.Change{Seq: 10}); err != nil {
		t.Fatal(err)
	}
	rcv.waitFor(t, "the delivery after the gap", func(ds []delivery) bool { return len(ds) == 1 })
}
