package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// watchedStore is the real store with the handshakes' store work watched
// from outside the hub: a handshake is open from its bind's read of the
// agent's connections (its first store step after the hello) until its
// Connected event. It counts the claims and lease renewals, and can hold
// the first UpdateAgent (a handshake's first write) until released or
// its caller gives up.
type watchedStore struct {
	Store
	mu              sync.Mutex
	open, peak      int
	claims, renewal int
	credentials     int // AgentByCredential's calls
	// hold, when not nil, holds the first UpdateAgent until it is closed;
	// held is closed once it is held.
	hold, held chan struct{}
	holding    bool
	// gate, when not nil, holds every handshake's first store call until
	// it is closed: the handshakes in progress stay in progress.
	gate chan struct{}
}

func (s *watchedStore) AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error) {
	s.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	s.mu.Unlock()
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
		}
	}
	return s.Store.AgentConnections(ctx, agentID)
}

func (s *watchedStore) AddAgentEvent(ctx context.Context, e store.AgentEvent) error {
	if e.Type == store.EventConnected {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}
	return s.Store.AddAgentEvent(ctx, e)
}

func (s *watchedStore) UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error) {
	s.mu.Lock()
	first := s.hold != nil && !s.holding
	s.holding = s.holding || first
	s.mu.Unlock()
	if first {
		close(s.held)
		select { // a slow store that gives up when the caller does
		case <-s.hold:
		case <-ctx.Done():
		}
	}
	return s.Store.UpdateAgent(ctx, id, fn)
}

func (s *watchedStore) ClaimChannel(ctx context.Context, agentID, replica string) (uint64, error) {
	s.mu.Lock()
	s.claims++
	s.mu.Unlock()
	return s.Store.ClaimChannel(ctx, agentID, replica)
}

func (s *watchedStore) RenewLeases(ctx context.Context, agentID string, until time.Time) ([]store.Dataset, error) {
	s.mu.Lock()
	s.renewal++
	s.mu.Unlock()
	return s.Store.RenewLeases(ctx, agentID, until)
}

func (s *watchedStore) AgentByCredential(ctx context.Context, hash []byte) (store.Agent, error) {
	s.mu.Lock()
	s.credentials++
	s.mu.Unlock()
	return s.Store.AgentByCredential(ctx, hash)
}

func (s *watchedStore) credentialReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credentials
}

func (s *watchedStore) counts() (peak, claims, renewals int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.claims, s.renewal
}

// busyRefusal checks a refused upgrade's answer: 503, Retry-After in
// whole seconds within [1, MaxBusyRetry], the error shape with code busy.
// It returns what is wrong, "" when nothing.
func busyRefusal(resp *http.Response) string {
	var perr protocol.Error
	err := json.NewDecoder(resp.Body).Decode(&perr)
	after, aerr := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || aerr != nil || after < 1 || after > int(MaxBusyRetry/time.Second) ||
		err != nil || perr.Code != protocol.CodeBusy || perr.Message == "" {
		return resp.Status + " Retry-After " + resp.Header.Get("Retry-After") + " " + string(perr.Code)
	}
	return ""
}

// stormAgent dials as l until it is welcomed, dialling again at once
// after each busy refusal (the agent's wait is the agent's: see
// agent/worker), and returns the live connection and the refusals it
// met; a refusal of another shape, or any other failure, is an error.
// refusal, unless nil, is called at each busy refusal.
func stormAgent(url string, l benchLink, refusal func()) (*websocket.Conn, int, string) {
	refused := 0
	hdr := http.Header{"Authorization": {"Bearer " + l.cred}}
	for {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+protocol.ConnectPath, hdr)
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			refused++
			if refusal != nil {
				refusal()
			}
			if bad := busyRefusal(resp); bad != "" {
				return nil, refused, "refused with " + bad
			}
			continue
		}
		if err != nil {
			return nil, refused, err.Error()
		}
		_ = ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
			Versions: []int{protocol.Version}, Hostname: "bench", OS: "linux", AgentVersion: "bench",
			Bindings: []protocol.Binding{{ConnectionID: l.connID, DataTypes: dataset.DataTypes}}, Capacity: 2}})
		var m protocol.Message
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		if err := ws.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
			ws.Close()
			return nil, refused, "no welcome: " + string(m.Type) + " " + errString(err)
		}
		return ws, refused, ""
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestHandshakeStorm: 100 agents arriving at once against a real Badger
// store, with room for 8 handshakes: never more than 8 are in progress
// (seen from the store), those refused get 503 busy with Retry-After and
// the error shape, and every agent, dialling again, ends online. The
// store holds the handshakes until the first refusal: on a machine fast
// enough, 100 handshakes never filled the slots for HandshakeWait.
func TestHandshakeStorm(t *testing.T) {
	const n, slots = 100, 8
	var ws *watchedStore
	gate := make(chan struct{})
	var opened sync.Once
	bh := newBenchHubWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store, gate: gate}
		c.Store, c.Handshakes, c.HandshakeWait = ws, slots, 100*time.Millisecond
	})
	links := bh.link(n)
	var (
		mu      sync.Mutex
		refused int
		conns   []*websocket.Conn
		wg      sync.WaitGroup
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, r, bad := stormAgent(bh.url, l, func() { opened.Do(func() { close(gate) }) })
			mu.Lock()
			defer mu.Unlock()
			refused += r
			if bad != "" {
				t.Errorf("%s: %s", l.agentID, bad)
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if got := bh.hub.OnlineCount(); got != n {
		t.Errorf("OnlineCount = %d, want %d", got, n)
	}
	peak, claims, _ := ws.counts()
	if peak > slots {
		t.Errorf("%d handshakes in progress at once, want at most %d", peak, slots)
	}
	if refused == 0 {
		t.Error("no upgrade refused: the storm never met the bound")
	}
	if claims != n {
		t.Errorf("%d channel claims, want one an agent (%d)", claims, n)
	}
	t.Logf("%d refusals for %d agents, %d handshakes at most at once", refused, n, peak)
}

// TestSupersededHandshakeStopsItsStoreWork: a handshake superseded while
// its store work is under way does no more of it (no lease renewal, no
// channel claim): the newer connection's handshake alone claims the
// channel, and it is welcomed.
func TestSupersededHandshakeStopsItsStoreWork(t *testing.T) {
	var ws *watchedStore
	e := newEnvWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store, hold: make(chan struct{}), held: make(chan struct{})}
		c.Store = ws
	})
	conn, cred := e.linked()
	older, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Close()
	hello := protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2}}
	if err := older.WriteJSON(hello); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ws.held: // the older handshake is in its store work
	case <-time.After(10 * time.Second):
		t.Fatal("the older handshake never reached its first store write")
	}
	newer, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	if got := closedBy(older); got != store.ReasonSuperseded {
		t.Fatalf("older connection ended with %q, want %q", got, store.ReasonSuperseded)
	}
	close(ws.hold)
	a := &agent{t: t, ws: newer, cred: cred}
	a.send(hello)
	w := a.expect(protocol.TypeWelcome).Welcome
	if !e.hub.Online(w.AgentID) {
		t.Error("the newer connection is not online")
	}
	if _, claims, renewals := ws.counts(); claims != 1 || renewals != 1 {
		t.Errorf("%d channel claims and %d lease renewals, want 1 and 1 (the newer handshake's alone)", claims, renewals)
	}
}

// heldHandshake starts a hub, set by edit, whose store holds a
// handshake's store work until the test closes ws.hold, and returns once
// a linked agent's handshake (a, bound to conn with cred) is held there.
func heldHandshake(t *testing.T, edit func(*Config)) (e *env, ws *watchedStore, a *agent, conn, cred string) {
	t.Helper()
	e = newEnvWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store, hold: make(chan struct{}), held: make(chan struct{})}
		c.Store = ws
		edit(c)
	})
	conn, cred = e.linked()
	first, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	a = &agent{t: t, ws: first, cred: cred}
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2}})
	<-ws.held
	return e, ws, a, conn, cred
}

// TestHandshakePastItsDeadline: a handshake whose store work outlasts its
// deadline stops there: the agent is told busy (so that it waits before
// it comes back), the channel is not claimed, and the agent's next
// connection is welcomed.
func TestHandshakePastItsDeadline(t *testing.T) {
	e, ws, a, conn, cred := heldHandshake(t, func(c *Config) { c.HandshakeTimeout = 2 * time.Second })
	// Held past the deadline: released once the agent has been told.
	m := a.expect(protocol.TypeError)
	close(ws.hold)
	if m.Error.Code != protocol.CodeBusy {
		t.Errorf("the answer past the deadline: %+v, want code %s", m.Error, protocol.CodeBusy)
	}
	if got := closedBy(a.ws); got != reasonHandshakeTimeout {
		t.Errorf("connection ended with %q, want %q", got, reasonHandshakeTimeout)
	}
	e.connect(cred, all(conn))
	if _, claims, renewals := ws.counts(); claims != 1 || renewals != 1 {
		t.Errorf("%d channel claims and %d lease renewals, want 1 and 1 (the second connection's alone)", claims, renewals)
	}
}

// TestUpgradeFloodFromOneAddress: one address floods the control channel
// (unknown credentials, and upgrades with one agent's credential that
// never say hello) while honest agents connect: the unknown credentials
// are refused, never upgraded (401 or 429 in a slot, busy when none
// frees: then unread), the flood's upgrades supersede each other and hold
// at most their slots, never more handshakes run than the bound, and
// every honest agent ends online.
func TestUpgradeFloodFromOneAddress(t *testing.T) {
	const slots, flood, honest = 4, 100, 20
	var ws *watchedStore
	bh := newBenchHubWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store}
		c.Store, c.Handshakes, c.HandshakeWait = ws, slots, 100*time.Millisecond
	})
	links := bh.link(honest + 1)
	hostile := links[honest]
	var (
		mu    sync.Mutex
		conns []*websocket.Conn
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	keep := func(c *websocket.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	target := "ws" + strings.TrimPrefix(bh.url, "http") + protocol.ConnectPath
	for i := range flood {
		wg.Add(2)
		go func() {
			defer wg.Done()
			hdr := http.Header{"Authorization": {"Bearer fra_unknown_" + strings.Repeat("x", i%7)}}
			c, resp, err := websocket.DefaultDialer.Dial(target, hdr)
			if err == nil {
				keep(c)
				t.Error("an unknown credential was upgraded")
				return
			}
			switch {
			case resp == nil:
				t.Errorf("an unknown credential: %v; want 401, 429 or busy", err)
			case resp.StatusCode == http.StatusServiceUnavailable:
				if bad := busyRefusal(resp); bad != "" {
					t.Errorf("an unknown credential refused with %s", bad)
				}
			case resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests:
				t.Errorf("an unknown credential: %v, %v; want 401, 429 or busy", resp.Status, err)
			}
		}()
		go func() {
			defer wg.Done()
			c, _, err := websocket.DefaultDialer.Dial(target, http.Header{"Authorization": {"Bearer " + hostile.cred}})
			if err == nil {
				keep(c) // upgraded, then silent: no hello
			}
		}()
	}
	for _, l := range links[:honest] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, bad := stormAgent(bh.url, l, nil)
			if bad != "" {
				t.Errorf("%s: %s", l.agentID, bad)
				return
			}
			keep(c)
		}()
	}
	wg.Wait()
	for _, l := range links[:honest] {
		if !bh.hub.Online(l.agentID) {
			t.Errorf("honest agent %s offline", l.agentID)
		}
	}
	if peak, _, _ := ws.counts(); peak > slots {
		t.Errorf("%d handshakes at once, want at most %d", peak, slots)
	}
}

// TestBusyRefusalReadsNoCredential: while the one handshake slot is held
// (its store work held), dials are refused as busy without a read of
// their credential: the store sees the held handshake's read alone.
func TestBusyRefusalReadsNoCredential(t *testing.T) {
	e, ws, a, _, cred := heldHandshake(t, func(c *Config) { c.Handshakes, c.HandshakeWait = 1, 20*time.Millisecond })
	for _, c := range []string{cred, "fra_unknown"} {
		for range 3 {
			ws2, resp, err := e.dial(c)
			if err == nil {
				ws2.Close()
				t.Fatal("a dial was upgraded while the one slot was held")
			}
			if resp == nil {
				t.Fatal(err)
			}
			if bad := busyRefusal(resp); bad != "" {
				t.Fatalf("a dial while the slot was held: %s, want busy", bad)
			}
		}
	}
	if got := ws.credentialReads(); got != 1 {
		t.Errorf("%d credential reads, want 1 (the held handshake's): the busy refusals read the store", got)
	}
	close(ws.hold)
	a.expect(protocol.TypeWelcome)
}

// TestBusyRetryAfterGrowsWithTheQueue: dials refused together are told
// later and later turns, so that they come back spread: 20 at once
// against one held slot (a turn of 200 ms, the wait, before any hold is
// measured) are told from 1 s up to 4 s, not one Retry-After for all.
func TestBusyRetryAfterGrowsWithTheQueue(t *testing.T) {
	const n = 20
	e, ws, a, _, cred := heldHandshake(t, func(c *Config) { c.Handshakes, c.HandshakeWait = 1, 200*time.Millisecond })
	var (
		mu     sync.Mutex
		afters []int
		wg     sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, resp, err := e.dial(cred)
			if err == nil {
				c.Close()
				t.Error("a dial was upgraded while the one slot was held")
				return
			}
			if resp == nil {
				t.Error(err)
				return
			}
			if bad := busyRefusal(resp); bad != "" {
				t.Errorf("refused with %s", bad)
			}
			after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			mu.Lock()
			afters = append(afters, after)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(ws.hold)
	a.expect(protocol.TypeWelcome)
	slices.Sort(afters)
	if len(afters) != n || afters[0] != 1 || afters[n-1] < 3 {
		t.Errorf("the Retry-After of %d dials refused together: %v; want from 1 s to at least 3 s", n, afters)
	}
}

// TestRetryAfterBooksTurns: the admission books each refusal one turn
// (hold/slots) after the last booking, within
// 1 s and the storm's horizon; once the bookings have passed, a refusal
// is told the minimum again.
func TestRetryAfterBooksTurns(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	a := newAdmission(4, 2*time.Second)
	a.now = func() time.Time { return now }
	if got := a.retryAfter(); got != time.Second {
		t.Errorf("first refusal before any hold measured: %v, want 1s (a turn of 500ms, the wait over 4 slots)", got)
	}
	a.booked = time.Time{}
	a.held(400 * time.Millisecond) // a turn of 100 ms
	for k := 1; k <= 30; k++ {
		want := max(time.Duration(k)*100*time.Millisecond, time.Second)
		if got := a.retryAfter(); got != want {
			t.Fatalf("refusal %d: Retry-After %v, want %v", k, got, want)
		}
	}
	now = now.Add(time.Minute) // the bookings have passed
	for range 1000 {
		a.retryAfter()
	}
	if got := a.retryAfter(); got != protocol.BusyRetry {
		t.Errorf("refusal after 1,000 more at once: %v, want a young storm's horizon %v", got, protocol.BusyRetry)
	}
	now = now.Add(2 * MaxBusyRetry)
	if got := a.retryAfter(); got != time.Second {
		t.Errorf("refusal once the bookings passed: %v, want 1s", got)
	}
	for range 200 {
		a.held(8 * time.Second) // the average follows longer holds: a turn of about 2 s
	}
	now = now.Add(time.Minute)
	if got := a.retryAfter(); got < 1900*time.Millisecond || got > 2*time.Second {
		t.Errorf("after 200 holds of 8 s: %v, want about a turn, 2s", got)
	}
}

// TestRetryAfterHorizonGrowsWithTheStorm: a storm's first refusals are
// booked no further ahead than protocol.BusyRetry, however slow the
// handshakes measured then (a restart: 3,000 dials refused at once behind
// holds of a second, 160 a second, which a minute of bookings would not
// hold); while the storm goes on, the horizon is twice its age, up to
// MaxBusyRetry; once every booking has passed, a new storm starts short.
func TestRetryAfterHorizonGrowsWithTheStorm(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	a := newAdmission(32, 2*time.Second)
	a.now = func() time.Time { return now }
	for range 200 {
		a.held(time.Second) // cold: a turn of 31 ms
	}
	longest := func(n int) time.Duration {
		var d time.Duration
		for range n {
			d = max(d, a.retryAfter())
		}
		return d
	}
	if got := longest(3000); got != protocol.BusyRetry {
		t.Errorf("3,000 refused at the storm's start: the longest told %v, want %v (a minute's bookings on the first seconds' rate)",
			got, protocol.BusyRetry)
	}
	for _, c := range []struct{ age, want time.Duration }{
		{4 * time.Second, 8 * time.Second},
		{10 * time.Second, 20 * time.Second},
		{20 * time.Second, 40 * time.Second},
		{40 * time.Second, MaxBusyRetry},
		{5 * time.Minute, MaxBusyRetry},
	} {
		// The storm goes on: refusals every second, each past the bookings.
		for now.Before(time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC).Add(c.age)) {
			now = now.Add(time.Second)
			longest(200)
		}
		if got := longest(3000); got != c.want {
			t.Errorf("the storm %v old: the longest told %v, want %v", c.age, got, c.want)
		}
	}
	now = now.Add(MaxBusyRetry + time.Second) // every booking has passed
	if got := longest(3000); got != protocol.BusyRetry {
		t.Errorf("a new storm's start: the longest told %v, want %v", got, protocol.BusyRetry)
	}
}

// TestRetryAfterNotBehindTheWaitingDials: a refusal while hundreds of
// dials wait for a slot (a storm: they came with it, and are refused with
// it) is booked a turn from now, not after their turns: booked behind
// them, the whole wave came back 2 s and more after the slots had
// emptied. synctest: the dials are all waiting before the refusal.
func TestRetryAfterNotBehindTheWaitingDials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(4, 2*time.Second)
		a.held(400 * time.Millisecond) // a turn of 100 ms
		for range cap(a.slots) {
			a.slots <- struct{}{}
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.await(ctx, ctx)
			}()
		}
		synctest.Wait() // every dial waits for a slot
		if got := a.retryAfter(); got != time.Second {
			t.Errorf("a refusal while 300 dials wait: %v, want 1s (a turn from now)", got)
		}
		cancel()
		wg.Wait()
	})
}
