package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// counting is the queuer's store counting its calls.
type counting struct {
	queue.Store
	calls atomic.Int64
}

func (c *counting) Connection(ctx context.Context, companyID, id string) (store.Connection, error) {
	c.calls.Add(1)
	return c.Store.Connection(ctx, companyID, id)
}

func (c *counting) Connections(ctx context.Context, companyID string) ([]store.Connection, error) {
	c.calls.Add(1)
	return c.Store.Connections(ctx, companyID)
}

func (c *counting) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	c.calls.Add(1)
	return c.Store.EffectiveSyncSettings(ctx, companyID)
}

func (c *counting) QueueDataset(ctx context.Context, q store.QueueRequest) (store.Queued, error) {
	c.calls.Add(1)
	return c.Store.QueueDataset(ctx, q)
}

// TestQueueOneStoreCall: a queue call is one store call, the queue's
// transaction, which picks the connection, reads the type's sync order
// and the gate (for the answer's description of a hold) as it writes.
// Each store read waits for the commits in flight to be synced, so every
// read besides costs the queue answer a sync while datasets move. It
// fails if the queuer reads the connections, the settings or the gate
// on its own again.
func TestQueueOneStoreCall(t *testing.T) {
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
	if err := st.SetCompanySyncSettings(ctx, store.CompanySyncSettings{CompanyID: "co",
		Settings: []store.SyncSetting{{DataType: dataset.Invoices, SyncSchedule: 24, SyncOrder: 9}}, OverridesDefaults: true}); err != nil {
		t.Fatal(err)
	}
	m := &counting{Store: st}
	q := queue.New(m)
	d, gate, err := q.QueueGate(ctx, "co", dataset.Invoices, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != dataset.Queued || d.ConnectionID != "conn" || d.SyncOrder != 9 {
		t.Errorf("queued %+v, want Queued on conn with the settings' sync order 9", d)
	}
	if gate == nil || gate.ConnectionID != "conn" {
		t.Errorf("gate %+v, want conn's", gate)
	}
	if n := m.calls.Load(); n != 1 {
		t.Errorf("a queue call made %d store calls, want 1", n)
	}
	if _, err := q.Queue(ctx, "nope", dataset.Invoices, "", "test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("queue on a missing company: %v, want ErrNotFound", err)
	}
}
