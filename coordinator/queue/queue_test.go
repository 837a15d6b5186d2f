package queue_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// pair is two store calls that should run at once: each waits, until a
// deadline, for the other to begin.
type pair struct {
	mu   sync.Mutex
	a, b chan struct{}
	once [2]sync.Once
	met  bool
}

func newPair() *pair { return &pair{a: make(chan struct{}), b: make(chan struct{})} }

// arrive marks call i (0 or 1) begun and, if it is the first, waits for
// the other: they met if the other began while this one waited.
func (p *pair) arrive(i int) {
	mine, other := p.a, p.b
	if i == 1 {
		mine, other = p.b, p.a
	}
	select {
	case <-other:
		p.once[i].Do(func() { close(mine) })
		return // the other waits for this one
	default:
	}
	p.once[i].Do(func() { close(mine) })
	select {
	case <-other:
		p.mu.Lock()
		p.met = true
		p.mu.Unlock()
	case <-time.After(5 * time.Second):
	}
}

func (p *pair) together() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.met
}

// meeting is the queuer's store whose reads of the connections and of the
// settings meet, and whose gate read and queue commit meet.
type meeting struct {
	queue.Store
	reads, commit *pair
}

func (m *meeting) Connections(ctx context.Context, companyID string) ([]store.Connection, error) {
	m.reads.arrive(0)
	return m.Store.Connections(ctx, companyID)
}

func (m *meeting) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	m.reads.arrive(1)
	return m.Store.EffectiveSyncSettings(ctx, companyID)
}

func (m *meeting) SyncGate(ctx context.Context, connectionID string) (store.SyncGate, error) {
	m.commit.arrive(0)
	return m.Store.SyncGate(ctx, connectionID)
}

func (m *meeting) QueueDataset(ctx context.Context, q store.QueueRequest) (store.Dataset, error) {
	m.commit.arrive(1)
	return m.Store.QueueDataset(ctx, q)
}

// TestQueueReadsAtOnce: a queue call reads the company's connections and
// its sync settings at once, then the connection's gate (for the
// answer's description of a hold) at once with its commit. Each store
// read waits for the commits in flight to be synced, so one after the
// other they cost the queue answer a sync each while datasets move. It
// fails (each call waiting out its deadline for the other) if either pair
// goes back to one after the other.
func TestQueueReadsAtOnce(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if err := st.CreateCompany(ctx, store.Company{ID: "co", Created: now}); err != nil {
		t.Fatal(err)
	}
	c := store.Connection{ID: "conn", CompanyID: "co", PlatformKey: "gnucash", Status: store.Linked, AgentID: "agent", Created: now}
	if err := st.CreateConnection(ctx, c, store.LinkCode{Hash: []byte("hash"), CompanyID: "co", ConnectionID: "conn", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m := &meeting{Store: st, reads: newPair(), commit: newPair()}
	q := queue.New(m)
	d, gate, err := q.QueueGate(ctx, "co", dataset.Invoices, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != dataset.Queued || d.ConnectionID != "conn" {
		t.Errorf("queued %+v, want Queued on conn", d)
	}
	if gate == nil || gate.ConnectionID != "conn" {
		t.Errorf("gate %+v, want conn's", gate)
	}
	if !m.reads.together() {
		t.Error("the connections and the settings were read one after the other, want at once")
	}
	if !m.commit.together() {
		t.Error("the gate was read apart from the queue's commit, want at once")
	}
	if _, err := q.Queue(ctx, "nope", dataset.Invoices, "", "test"); err == nil {
		t.Error("queue on a missing company: no error")
	}
}
