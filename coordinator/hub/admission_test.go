package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
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
	// hold, when not nil, holds the first UpdateAgent until it is closed;
	// held is closed once it is held.
	hold, held chan struct{}
	holding    bool
}

func (s *watchedStore) AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error) {
	s.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	s.mu.Unlock()
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

func (s *watchedStore) counts() (peak, claims, renewals int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.claims, s.renewal
}

// busyRefusal checks a refused upgrade's answer: 503, Retry-After, the
// error shape with code busy. It returns what is wrong, "" when nothing.
func busyRefusal(resp *http.Response) string {
	var perr protocol.Error
	err := json.NewDecoder(resp.Body).Decode(&perr)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || err != nil ||
		perr.Code != protocol.CodeBusy || perr.Message == "" {
		return resp.Status + " Retry-After " + resp.Header.Get("Retry-After") + " " + string(perr.Code)
	}
	return ""
}

// stormAgent dials as l until it is welcomed, dialling again at once
// after each busy refusal (the agent's wait is the agent's: see
// agent/worker), and returns the live connection and the refusals it
// met; a refusal of another shape, or any other failure, is an error.
func stormAgent(url string, l benchLink) (*websocket.Conn, int, string) {
	refused := 0
	hdr := http.Header{"Authorization": {"Bearer " + l.cred}}
	for {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+protocol.ConnectPath, hdr)
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			refused++
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
// the error shape, and every agent, dialling again, ends online.
func TestHandshakeStorm(t *testing.T) {
	const n, slots = 100, 8
	var ws *watchedStore
	bh := newBenchHubWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store}
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
			c, r, bad := stormAgent(bh.url, l)
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

// TestHandshakePastItsDeadline: a handshake whose store work outlasts its
// deadline stops there: the agent is told busy (so that it waits before
// it comes back), the channel is not claimed, and the agent's next
// connection is welcomed.
func TestHandshakePastItsDeadline(t *testing.T) {
	var ws *watchedStore
	e := newEnvWith(t, func(c *Config) {
		ws = &watchedStore{Store: c.Store, hold: make(chan struct{}), held: make(chan struct{})}
		c.Store, c.HandshakeTimeout = ws, 2*time.Second
	})
	conn, cred := e.linked()
	first, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	a := &agent{t: t, ws: first, cred: cred}
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2}})
	<-ws.held
	// Held past the deadline: released once the agent has been told.
	m := a.expect(protocol.TypeError)
	close(ws.hold)
	if m.Error.Code != protocol.CodeBusy {
		t.Errorf("the answer past the deadline: %+v, want code %s", m.Error, protocol.CodeBusy)
	}
	if got := closedBy(first); got != reasonHandshakeTimeout {
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
// are refused before any handshake slot, the flood's upgrades supersede
// each other and hold at most their slots, never more handshakes run
// than the bound, and every honest agent ends online.
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
			if resp == nil || resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("an unknown credential: %v, %v; want 401 or 429", resp, err)
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
			c, _, bad := stormAgent(bh.url, l)
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
