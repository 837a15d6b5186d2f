package worker_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/update"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// lockable is a blockingSource whose book the accounting program may hold
// locked.
type lockable struct {
	blockingSource
	locked atomic.Bool
}

func (s *lockable) Locked() bool { return s.locked.Load() }

var _ source.Locker = (*lockable)(nil)

// scripted is a coordinator the test speaks for: each connection, once
// welcomed, is handed to the test; its release files are served only
// once release is closed, and then are not found.
type scripted struct {
	conns   chan *websocket.Conn
	release chan struct{}
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, protocol.ReleasesPath) {
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
		http.Error(w, "no such release", http.StatusNotFound)
		return
	}
	ws, hello, ok := agentHello(w, r)
	if !ok {
		return
	}
	if hello.Hello == nil || !slices.Contains(hello.Hello.Features, protocol.FeatureUpdate) {
		ws.Close()
		return
	}
	_ = welcome(ws, hello)
	s.conns <- ws
}

// script drives one connection: send writes, next reads the next
// message that is not a heartbeat.
type script struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s script) send(m protocol.Message) string {
	s.t.Helper()
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	if err := s.ws.WriteJSON(m); err != nil {
		s.t.Fatal(err)
	}
	return m.ID
}

func (s script) next() protocol.Message {
	s.t.Helper()
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		var m protocol.Message
		if err := s.ws.ReadJSON(&m); err != nil {
			s.t.Fatalf("read: %v", err)
		}
		if m.Type != protocol.TypeHeartbeat {
			return m
		}
	}
}

// update sends an update to v and returns the answer.
func (s script) update(v string) protocol.Message {
	s.t.Helper()
	id := s.send(protocol.Message{Type: protocol.TypeUpdate, Update: &protocol.Update{Version: v, HealthMillis: 60000, Reason: "rollout"}})
	m := s.next()
	if m.ReplyTo != id {
		s.t.Fatalf("answer to update %s: %+v", v, m)
	}
	return m
}

func (s script) status(event string) protocol.Message {
	s.t.Helper()
	m := s.next()
	if m.Type != protocol.TypeUpdateStatus || m.UpdateStatus.Event != event {
		s.t.Fatalf("got %s %+v, want an updateStatus %s", m.Type, m.UpdateStatus, event)
	}
	return m
}

func offered(id, conn string) protocol.Message {
	return protocol.Message{Type: protocol.TypeOffer, Offer: &protocol.Offer{DatasetID: id, CompanyID: "co-1", ConnectionID: conn,
		DataType: dataset.Customers, Attempt: 1}}
}

// An agent refuses an update while a dataset is in hand or a book is
// locked (busy) and for an older version (refused); it takes a newer one
// on, claims nothing until it ends, and keeps its statuses until they are
// acknowledged, across a reconnection.
func TestWorkerUpdate(t *testing.T) {
	srv := &scripted{conns: make(chan *websocket.Conn, 2), release: make(chan struct{})}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() {
		select {
		case <-srv.release:
		default:
			close(srv.release)
		}
	}()
	held, book := &blockingSource{}, &lockable{}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	state := &update.State{Dir: t.TempDir()}
	up := update.New(update.Config{Version: "1.0.0", Coordinator: hs.URL, Credential: "fra_x", HTTP: hs.Client(),
		State: state, Layout: update.Layout{Root: t.TempDir()}, Roots: []ed25519.PublicKey{pub}})
	log := slog.New(slog.DiscardHandler)
	w := worker.New(worker.Config{
		Coordinator: hs.URL, Credential: "fra_x", Concurrency: 2, Version: "1.0.0", Logger: log,
		HTTP: upload.NewHTTPClient(log, nil), BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Bindings: []worker.Binding{{ConnectionID: "conn-1", CompanyID: "co-1", Source: held}, {ConnectionID: "conn-2", CompanyID: "co-1", Source: book}},
		Update:   up,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	s := script{t, <-srv.conns}

	// The book is locked by the accounting program: busy.
	book.locked.Store(true)
	if m := s.update("1.1.0"); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeBusy || !strings.Contains(m.Error.Message, "locked") {
		t.Fatalf("update while a book is locked: %+v %+v; want busy", m, m.Error)
	}
	book.locked.Store(false)
	// A dataset in hand: busy.
	s.send(offered("d1", "conn-1"))
	claim := s.next()
	if claim.Type != protocol.TypeClaim {
		t.Fatalf("got %+v, want the claim", claim)
	}
	s.send(protocol.Message{Type: protocol.TypeClaimed, ReplyTo: claim.ID, Claimed: &protocol.Claimed{
		Offer: *offered("d1", "conn-1").Offer, LeaseID: uuid.NewString()}})
	waitFor(t, 20*time.Second, "the dataset in the source's hands", func() bool { return held.fetches.now.Load() == 1 })
	if m := s.update("1.1.0"); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeBusy || !strings.Contains(m.Error.Message, "in hand") {
		t.Fatalf("update with a dataset in hand: %+v %+v; want busy", m, m.Error)
	}
	// The binding is revoked, its dataset dropped: the agent is free.
	s.send(protocol.Message{Type: protocol.TypeRevoked, Revoked: &protocol.Revoked{ConnectionID: "conn-1", Reason: "test"}})
	waitFor(t, 20*time.Second, "the dataset dropped", func() bool { return len(w.Status().InHand) == 0 && held.fetches.now.Load() == 0 })
	// Older or the same version: refused for good.
	for _, v := range []string{"0.9.0", "1.0.0"} {
		if m := s.update(v); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeUpdateRefused || !strings.HasPrefix(m.Error.Message, "downgrade") {
			t.Fatalf("update to %s: %+v %+v; want refused, downgrade", v, m, m.Error)
		}
	}
	// A newer one: taken on and started.
	if m := s.update("1.1.0"); m.Type != protocol.TypeAck {
		t.Fatalf("update to 1.1.0: %+v %+v; want ack", m, m.Error)
	}
	started := s.status(protocol.UpdateStarted)
	if st := started.UpdateStatus; st.From != "1.0.0" || st.To != "1.1.0" {
		t.Errorf("UpdateStarted %+v", st)
	}
	s.send(protocol.Message{Type: protocol.TypeAck, ReplyTo: started.ID})
	// While it runs (its download waits), an offer is not claimed; the
	// same update again is acknowledged and changes nothing. The reader
	// handles messages in order, so the offer was seen before that ack.
	s.send(offered("d2", "conn-2"))
	if m := s.update("1.1.0"); m.Type != protocol.TypeAck {
		t.Fatalf("the same update again: %+v; want ack", m)
	}
	close(srv.release) // the release is not found: the update fails
	failed := s.status(protocol.UpdateFailed)
	if st := failed.UpdateStatus; st.Step != protocol.StepDownload || !strings.Contains(st.Reason, "404") {
		t.Errorf("UpdateFailed %+v; want step download, the coordinator's 404", st)
	}
	if m := s.next(); m.Type != protocol.TypeClaim || m.Claim.DatasetID != "d2" {
		t.Fatalf("after the failure got %+v, want the claim of d2 (and none before)", m)
	}
	// Not acknowledged: kept on disk, and sent again with the same id
	// after the next welcome.
	s.ws.Close()
	s = script{t, <-srv.conns}
	again := s.next()
	for again.Type == protocol.TypeClaim { // the offer is forgotten with the session
		again = s.next()
	}
	if again.Type != protocol.TypeUpdateStatus || again.ID != failed.ID {
		t.Fatalf("after reconnecting got %+v, want UpdateFailed %s again", again, failed.ID)
	}
	s.send(protocol.Message{Type: protocol.TypeAck, ReplyTo: again.ID})
	waitFor(t, 20*time.Second, "the acknowledged status forgotten", func() bool {
		qs, err := state.Statuses()
		return err == nil && len(qs) == 0
	})
	s.ws.Close()
}

// TestNoUpdateFeatureWithoutLayout: an agent that cannot update itself (a
// .deb's, one run in the foreground) does not list the update feature, so
// no rollout waits for it or counts its refusal as a failure; with a
// layout it does.
func TestNoUpdateFeatureWithoutLayout(t *testing.T) {
	for _, c := range []struct {
		name     string
		noLayout error
		want     bool
	}{{"layout", nil, true}, {"no layout", update.ErrNoLayout, false}} {
		t.Run(c.name, func(t *testing.T) {
			hellos := make(chan protocol.Hello, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				var m protocol.Message
				if ws.ReadJSON(&m) == nil && m.Hello != nil {
					select {
					case hellos <- *m.Hello:
					default:
					}
				}
			}))
			defer hs.Close()
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			up := update.New(update.Config{Version: "1.0.0", Coordinator: hs.URL, Credential: "fra_x", HTTP: hs.Client(),
				State: &update.State{Dir: t.TempDir()}, Layout: update.Layout{Root: t.TempDir()}, NoLayout: c.noLayout,
				Roots: []ed25519.PublicKey{pub}})
			log := slog.New(slog.DiscardHandler)
			w := worker.New(worker.Config{Coordinator: hs.URL, Credential: "fra_x", Concurrency: 1, Version: "1.0.0", Logger: log,
				HTTP: upload.NewHTTPClient(log, nil), BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
				Bindings: []worker.Binding{{ConnectionID: "conn-1", CompanyID: "co-1", Source: &blockingSource{}}}, Update: up})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = w.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()
			select {
			case h := <-hellos:
				if got := slices.Contains(h.Features, protocol.FeatureUpdate); got != c.want {
					t.Errorf("hello features %v: lists update %v, want %v", h.Features, got, c.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no hello within 30 s")
			}
		})
	}
}
