package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// gauge counts calls in progress, the most at once and all of them.
type gauge struct{ now, max, total atomic.Int32 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	g.total.Add(1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// blockingSource's Fetch holds every dataset until it is cancelled, so
// the datasets the agent works on stay in hand.
type blockingSource struct{ fetches gauge }

func (s *blockingSource) DataTypes() []dataset.DataType { return []dataset.DataType{dataset.Customers} }

func (s *blockingSource) Fetch(ctx context.Context, _ dataset.DataType) (source.Batch, error) {
	s.fetches.enter()
	defer s.fetches.leave()
	<-ctx.Done()
	return nil, ctx.Err()
}

// hostile is a coordinator that pushes what the agent never asked for:
// claimed messages answering no claim, and a flood of diagnose requests.
// Then it offers two datasets and grants the agent's claims for them, as
// a coordinator should.
type hostile struct {
	t           *testing.T
	unsolicited int
	diagnoses   int
	granted     atomic.Int32
	diagReplies atomic.Int32
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, hello, ok := agentHello(w, r)
	if !ok {
		return
	}
	defer ws.Close()
	send := func(m protocol.Message) bool { return ws.WriteJSON(m) == nil }
	_ = welcome(ws, hello)
	offer := func(id string) protocol.Offer {
		return protocol.Offer{DatasetID: id, CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.Customers, Attempt: 1}
	}
	for i := range h.unsolicited {
		send(protocol.Message{Type: protocol.TypeClaimed, ID: uuid.NewString(), ReplyTo: uuid.NewString(),
			Claimed: &protocol.Claimed{Offer: offer(fmt.Sprintf("rogue-%d", i)), LeaseID: uuid.NewString()}})
	}
	for range h.diagnoses {
		send(protocol.Message{Type: protocol.TypeDiagnose, ID: uuid.NewString(), Diagnose: &protocol.Diagnose{ServerTime: time.Now().UTC()}})
	}
	next := 1
	send(protocol.Message{Type: protocol.TypeOffer, ID: uuid.NewString(), Offer: ptr(offer("legit-1"))})
	for {
		var m protocol.Message
		if ws.ReadJSON(&m) != nil {
			return
		}
		switch {
		case m.Type == protocol.TypeDiagnostics:
			h.diagReplies.Add(1)
		case m.Type == protocol.TypeClaim && m.Claim.DatasetID == fmt.Sprintf("legit-%d", next):
			send(protocol.Message{Type: protocol.TypeClaimed, ID: uuid.NewString(), ReplyTo: m.ID,
				Claimed: &protocol.Claimed{Offer: offer(m.Claim.DatasetID), LeaseID: uuid.NewString()}})
			h.granted.Add(1)
			if next++; next == 2 {
				send(protocol.Message{Type: protocol.TypeOffer, ID: uuid.NewString(), Offer: ptr(offer("legit-2"))})
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// An agent starts only the datasets it claimed, never more than its
// concurrency, and runs one diagnostic at a time, however many claimed
// and diagnose messages a coordinator pushes.
func TestWorkerEnforcesItsOwnLimits(t *testing.T) {
	const concurrency = 2
	h := &hostile{t: t, unsolicited: 40, diagnoses: 200}
	srv := httptest.NewServer(h)
	defer srv.Close()
	src := &blockingSource{}
	var checks gauge
	release := make(chan struct{})
	log := slog.New(slog.DiscardHandler)
	w := worker.New(worker.Config{
		Coordinator: srv.URL, Credential: "fra_x", Concurrency: concurrency, Version: "test", Logger: log,
		HTTP:     upload.NewHTTPClient(log, nil),
		Bindings: []worker.Binding{{ConnectionID: "conn-1", CompanyID: "co-1", Source: src}},
		Checks: func(ctx context.Context) []protocol.Check {
			checks.enter()
			defer checks.leave()
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			cancel()
			wg.Wait() // Run returns once every job and diagnostic it started ended
			stopped = true
		}
	}
	defer stop()

	// The two offered datasets are claimed, granted and started (with the
	// fix; without it, the unsolicited ones fill every slot first).
	waitFor(t, 20*time.Second, "two datasets in the source's hands", func() bool { return src.fetches.total.Load() >= concurrency })
	close(release)
	waitFor(t, 20*time.Second, "a diagnostics report", func() bool { return h.diagReplies.Load() >= 1 })
	stop()

	tests := []struct {
		what      string
		got, want int32
	}{
		{"datasets started", src.fetches.total.Load(), concurrency},
		{"datasets in hand at once", src.fetches.max.Load(), concurrency},
		{"claims granted", h.granted.Load(), concurrency},
		{"diagnostic runs", checks.total.Load(), 1},
		{"diagnostic runs at once", checks.max.Load(), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.what, tt.got, tt.want)
		}
	}
	if got := h.diagReplies.Load(); got < 1 || got > 5 {
		t.Errorf("diagnostics reports: got %d, want 1 to 5 (one run, answering at most 4 requests that waited for it)", got)
	}
}
