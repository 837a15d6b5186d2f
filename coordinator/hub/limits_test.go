package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// logBuffer is a log destination tests read back.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitUntil polls cond until it holds, failing the test after 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedBy reads until the coordinator ends the connection and returns
// the close frame's text; "" when it stayed open for 20 s.
func closedBy(ws *websocket.Conn) string {
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Text
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return ""
			}
			return err.Error()
		}
	}
}

// TestNewestConnectionWinsAtOnce: a new upgrade with an agent's credential
// closes its older connection at once, whether the older one was welcomed
// or has not said hello yet.
func TestNewestConnectionWinsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		hello bool // the older connection said hello and was welcomed
	}{
		{"older in its handshake", false},
		{"older welcomed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			conn, cred := e.linked()
			var older *websocket.Conn
			if tt.hello {
				a, _ := e.connect(cred, all(conn))
				older = a.ws
			} else {
				ws, _, err := e.dial(cred)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				older = ws
			}
			// The newer one only upgrades: no hello yet.
			newer, _, err := e.dial(cred)
			if err != nil {
				t.Fatal(err)
			}
			defer newer.Close()
			if got := closedBy(older); got != store.ReasonSuperseded {
				t.Fatalf("older connection ended with %q, want %q", got, store.ReasonSuperseded)
			}
			a := &agent{t: t, ws: newer, cred: cred}
			a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
				Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2}})
			w := a.expect(protocol.TypeWelcome).Welcome
			if live, ok := e.hub.Live(w.AgentID); !ok || live.RemoteAddress != newer.LocalAddr().String() {
				t.Errorf("Live = %+v, %v; want the newer connection from %s", live, ok, newer.LocalAddr())
			}
		})
	}
}

// TestConcurrentUpgradesOneCredential: 200 upgrades at once with one
// credential, each saying hello, leave exactly one live channel (the
// newest), every other one closed, and no store conflict or other error
// logged.
func TestConcurrentUpgradesOneCredential(t *testing.T) {
	logs := &logBuffer{}
	e := newEnvWith(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	conn, cred := e.linked()
	const n = 200
	var (
		mu       sync.Mutex
		ended    int
		welcomed = map[*websocket.Conn]bool{}
		wg       sync.WaitGroup
	)
	open := make(chan *websocket.Conn, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := e.dial(cred)
			if err != nil {
				mu.Lock()
				ended++
				mu.Unlock()
				return
			}
			open <- ws
			_ = ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
				Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "test", Bindings: all(conn), Capacity: 2}})
			for {
				_, raw, err := ws.ReadMessage()
				mu.Lock()
				if err != nil {
					ended++
					delete(welcomed, ws)
					mu.Unlock()
					return
				}
				if m, err := protocol.Decode(raw); err == nil && m.Type == protocol.TypeWelcome {
					welcomed[ws] = true
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		close(open)
		for ws := range open {
			ws.Close()
		}
		wg.Wait()
	}()
	waitUntil(t, "all but one connection closed and the last welcomed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ended == n-1 && len(welcomed) == 1
	})
	if got := e.hub.OnlineCount(); got != 1 {
		t.Errorf("OnlineCount = %d, want 1", got)
	}
	mu.Lock()
	var winner *websocket.Conn
	for ws := range welcomed {
		winner = ws
	}
	mu.Unlock()
	agents, err := e.st.Agents(t.Context())
	if err != nil || len(agents) != 1 {
		t.Fatalf("agents %v, %v", agents, err)
	}
	if live, ok := e.hub.Live(agents[0].ID); !ok || live.RemoteAddress != winner.LocalAddr().String() {
		t.Errorf("Live = %+v, %v; want the connection still open, from %s", live, ok, winner.LocalAddr())
	}
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "onflict") {
			t.Errorf("logged: %s", line)
		}
	}
}

// TestRevokedCredentialRefusalsCoalesced: 200 calls with a revoked
// credential record one CredentialRefused event at once and one more, with
// the count, when the minute has passed; then nothing more.
func TestRevokedCredentialRefusalsCoalesced(t *testing.T) {
	e := newEnv(t)
	_, cred := e.linked()
	agents, err := e.st.Agents(t.Context())
	if err != nil || len(agents) != 1 {
		t.Fatalf("agents %v, %v", agents, err)
	}
	id := agents[0].ID
	if err := e.hub.RevokeAgent(t.Context(), id, "test"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, resp, err := e.dial(cred); err == nil || resp == nil || resp.StatusCode != 401 {
					t.Errorf("dial with a revoked credential: %v %v, want 401", err, resp)
				}
				return
			}
			if status, _ := e.putPage(cred, "ds-1", "lease", 1, []byte("x")); status != 401 {
				t.Errorf("page with a revoked credential: %d, want 401", status)
			}
		})
	}
	wg.Wait()
	refused := func() []store.AgentEvent {
		evs, err := e.st.AgentEvents(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.AgentEvent
		for _, ev := range evs {
			if ev.Type == store.EventCredentialRefused {
				out = append(out, ev)
			}
		}
		return out
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    int
		detail  string
	}{
		{"after 200 calls", 0, 1, ""},
		{"within the minute", 59 * time.Second, 1, ""},
		{"the minute passed", time.Second, 2, "199 more refused calls since"},
		{"a quiet minute", time.Minute, 2, ""},
	}
	for _, s := range steps {
		e.clock.Add(s.advance)
		e.hub.FlushRefusals(t.Context())
		got := refused()
		if len(got) != s.want {
			t.Fatalf("%s: %d CredentialRefused events, want %d", s.name, len(got), s.want)
		}
		if s.detail != "" && !strings.Contains(got[0].Detail, s.detail) {
			t.Errorf("%s: newest event's detail %q, want it to say %q", s.name, got[0].Detail, s.detail)
		}
	}
}

// TestAgentCredentialFailuresLimited: past the limit of unknown
// credentials from one address, the hub answers 429 with Retry-After
// before looking a credential up, the right one included, until the
// window passes.
func TestAgentCredentialFailuresLimited(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.AuthFailures = ratelimit.NewFailures(c.Store.(ratelimit.Counter), "auth", 20, time.Minute, nil)
	})
	_, cred := e.linked()
	for i := range 20 {
		if _, resp, err := e.dial(fmt.Sprintf("fra_wrong-%d", i)); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("wrong credential %d: %v %v, want 401", i, err, resp)
		}
	}
	tests := []struct {
		name    string
		advance time.Duration
		cred    string
		status  int
	}{
		{"another wrong credential", 0, "fra_wrong", 429},
		{"the right credential", 0, cred, 429},
		{"the right credential after the minute", time.Minute, cred, 101},
	}
	for _, tt := range tests {
		e.clock.Add(tt.advance)
		ws, resp, err := e.dial(tt.cred)
		if ws != nil {
			ws.Close()
		}
		if resp == nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
			continue
		}
		if tt.status == 429 {
			body, _ := io.ReadAll(resp.Body)
			if got := resp.Header.Get("Retry-After"); got != "60" || code(t, body) != protocol.CodeRateLimited {
				t.Errorf("%s: Retry-After %q, body %s; want 60 and %s", tt.name, got, body, protocol.CodeRateLimited)
			}
		}
	}
}

// TestUploadsPerAgentLimited: an agent may have UploadsPerAgent upload
// requests in flight, by default its two datasets' pages in flight
// (protocol.PagesInFlight each: the 5th was refused when it was 4); one
// more is 429 with Retry-After, and goes through once one ends.
func TestUploadsPerAgentLimited(t *testing.T) {
	const slots = 2 * protocol.PagesInFlight
	// A budget all the pages fit at once: this test is about the count
	// per agent, not the memory of pages (TestUploadBudgetBoundsPagesInFlight).
	e := newEnvWith(t, func(c *Config) { c.UploadMemory = (slots + 1) * protocol.MaxPageExpandedBytes })
	_, c, cred := e.claimMapping()
	agents, _ := e.st.Agents(t.Context())
	// allHeld says whether the agent's slots are held: a slot taken
	// here is returned at once.
	allHeld := func() bool {
		token, err := e.st.TakeUploadSlot(t.Context(), agents[0].ID, slots, e.clock.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if token == "" {
			return true
		}
		if err := e.st.ReturnUploadSlot(t.Context(), agents[0].ID, token); err != nil {
			t.Fatal(err)
		}
		return false
	}
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for i := range slots {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, _ := http.NewRequestWithContext(t.Context(), "PUT",
			fmt.Sprintf("%s%s%s/pages/%d", e.url, protocol.DatasetsPath, c.DatasetID, i+1), pr)
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set(protocol.LeaseHeader, c.LeaseID)
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	defer wg.Wait()
	defer func() {
		for _, pw := range pipes {
			pw.Close()
		}
	}()
	waitUntil(t, fmt.Sprint(slots, " uploads in flight"), allHeld)
	p, _ := page(t, `{"id":"a","companyName":"Acme"}`)
	status, out := e.putPage(cred, c.DatasetID, c.LeaseID, slots+1, p)
	if status != http.StatusTooManyRequests || code(t, out) != protocol.CodeRateLimited {
		t.Fatalf("upload %d at once: %d %s, want 429 %s", slots+1, status, out, protocol.CodeRateLimited)
	}
	pipes[0].CloseWithError(errors.New("gone"))
	waitUntil(t, "an upload to end", func() bool { return !allHeld() })
	if status, out := e.putPage(cred, c.DatasetID, c.LeaseID, slots+1, p); status != 200 {
		t.Errorf("an upload once one ended: %d %s, want 200", status, out)
	}
}

// TestReplacementFailingItsHandshake: when the connection that replaced a
// live one fails before its welcome, the agent's connections are reported
// offline: nobody serves them.
func TestReplacementFailingItsHandshake(t *testing.T) {
	e := newEnv(t)
	conn, cred := e.linked()
	a, w := e.connect(cred, all(conn))
	ws, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if got := closedBy(a.ws); got != store.ReasonSuperseded {
		t.Fatalf("live connection ended with %q, want %q", got, store.ReasonSuperseded)
	}
	_ = ws.WriteJSON(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{Versions: []int{99}}})
	closedBy(ws)
	var got []string
	waitUntil(t, "the offline report", func() bool {
		evs, err := e.st.AgentEvents(t.Context(), w.AgentID)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, ev := range evs {
			if ev.Type == store.EventDisconnected && len(ev.Connections) > 0 {
				got = append(got, ev.Reason+" "+strings.Join(ev.Connections, ","))
			}
		}
		return len(got) > 0
	})
	if want := reasonHandshakeFailed + " " + conn; len(got) != 1 || got[0] != want {
		t.Errorf("disconnects naming connections %q, want [%q]", got, want)
	}
	if e.hub.Online(w.AgentID) {
		t.Error("agent still online")
	}
}
