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

// meeting is the queuer's store whose reads of the connections and of the
// settings each wait until the other has begun, or until a deadline.
type meeting struct {
	queue.Store
	mu                  sync.Mutex
	conns, settings     chan struct{}
	connsOnce, settOnce sync.Once
	met                 bool
}

// wait marks this read begun and, if it is the first, waits for the
// other: they met if the other began while this one waited.
func (m *meeting) wait(mine *sync.Once, mineCh, other chan struct{}) {
	select {
	case <-other:
		mine.Do(func() { close(mineCh) })
		return // the other waits for this one
	default:
	}
	mine.Do(func() { close(mineCh) })
	select {
	case <-other:
		m.mu.Lock()
		m.met = true
		m.mu.Unlock()
	case <-time.After(5 * time.Second):
	}
}

func (m *meeting) Connections(ctx context.Context, companyID string) ([]store.Connection, error) {
	m.wait(&m.connsOnce, m.conns, m.settings)
	return m.Store.Connections(ctx, companyID)
}

func (m *meeting) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	m.wait(&m.settOnce, m.settings, m.conns)
	return m.Store.EffectiveSyncSettings(ctx, companyID)
}

// TestQueueReadsAtOnce: Queue reads the company's connections and its
// sync settings at once. Each store read waits for the commits in flight
// to be synced, so read one after the other they cost the queue call a
// sync more while datasets move. It fails (each read waiting out its
// deadline for the other) if the reads go back to one after the other.
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
	m := &meeting{Store: st, conns: make(chan struct{}), settings: make(chan struct{})}
	q := queue.New(m)
	d, err := q.Queue(ctx, "co", dataset.Invoices, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != dataset.Queued || d.ConnectionID != "conn" {
		t.Errorf("queued %+v, want Queued on conn", d)
	}
	if !m.met {
		t.Error("the connections and the settings were read one after the other, want at once")
	}
	if _, err := q.Queue(ctx, "nope", dataset.Invoices, "", "test"); err == nil {
		t.Error("queue on a missing company: no error")
	}
}
