package hub

import (
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// presenceLog records OnPresence calls.
type presenceLog struct {
	mu    sync.Mutex
	calls []string
	c     chan struct{}
}

func (p *presenceLog) record(agentID string, conns []string, online bool) {
	p.mu.Lock()
	state := "offline"
	if online {
		state = "online"
	}
	for _, c := range conns {
		p.calls = append(p.calls, c+" "+state)
	}
	p.mu.Unlock()
	p.c <- struct{}{}
}

func (p *presenceLog) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		got := append([]string(nil), p.calls...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-p.c:
		case <-deadline:
			t.Fatalf("presence calls: got %v, want %d", got, n)
		}
	}
}

// TestPresence: an agent's live connection reports its connections online,
// a newer connection replacing it reports nothing, and the live one ending
// reports them offline; the hub closing does not.
func TestPresence(t *testing.T) {
	st, err := store.OpenBadger(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	q := queue.New(st)
	q.Now = clk.Now
	log := &presenceLog{c: make(chan struct{}, 100)}
	h := New(Config{Store: st, Queuer: q, Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
		ExpiryInterval: time.Hour, OnPresence: log.record})
	q.Notify = h.Notify
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer st.Close()
	defer srv.Close()
	e := &env{t: t, st: st, hub: h, q: q, clock: clk, url: srv.URL, co: "co-1"}
	if err := st.CreateCompany(t.Context(), store.Company{ID: e.co, Name: "Acme", Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	conn, cred := e.linked()

	a1, _ := e.connect(cred, all(conn))
	if got := log.wait(t, 1); got[0] != conn+" online" {
		t.Fatalf("after connecting: %v", got)
	}
	a2, _ := e.connect(cred, all(conn)) // replaces a1
	got := log.wait(t, 2)
	if got[1] != conn+" online" {
		t.Fatalf("after a newer connection: %v", got)
	}
	_ = a1.ws.Close()
	_ = a2.ws.Close()
	got = log.wait(t, 3)
	if got[2] != conn+" offline" {
		t.Fatalf("after the live connection closed: %v", got)
	}
	a3, _ := e.connect(cred, all(conn))
	log.wait(t, 4)
	h.Close()
	_ = a3.ws.Close()
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.calls) != 4 {
		t.Errorf("calls %v: the superseded connection or the hub closing reported offline", log.calls)
	}
}
