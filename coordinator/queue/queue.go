// Package queue creates datasets by the queueing rules of the spec: which
// connection a data type is queued on, the 409 rule, "queue all" and
// first-link queueing. The hub learns of the work queued from the store's
// change feed.
package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/platform"
)

// Store is what the Queuer needs of the store.
type Store interface {
	Connection(ctx context.Context, companyID, id string) (store.Connection, error)
	Connections(ctx context.Context, companyID string) ([]store.Connection, error)
	EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error)
	QueueDataset(ctx context.Context, q store.QueueRequest) (store.Queued, error)
	Report(ctx context.Context, r store.Report) (store.Dataset, error)
}

// Queuer queues datasets. Its fields are set once before use.
type Queuer struct {
	Store Store
	// Now is the clock.
	Now func() time.Time
}

// New returns a Queuer on st with the wall clock.
func New(st Store) *Queuer {
	return &Queuer{Store: st, Now: time.Now}
}

// Settings returns the sync settings in force for a company.
func (q *Queuer) Settings(ctx context.Context, companyID string) ([]Setting, error) {
	return q.Store.EffectiveSyncSettings(ctx, companyID)
}

// Queue queues one data type for a company, on the named connection or, when
// connectionID is empty, on the company's only live connection.
func (q *Queuer) Queue(ctx context.Context, companyID string, dt dataset.DataType, connectionID, why string) (store.Dataset, error) {
	d, _, err := q.QueueGate(ctx, companyID, dt, connectionID, why)
	return d, err
}

// QueueGate is Queue that also returns the sync gate of the dataset's
// connection (its pause and the window in force), for an answer that says
// what holds the work. The store picks the connection, reads the type's
// sync order and the gate in the transaction that queues: each read of
// its own would wait for the commits in flight to be synced (a Badger
// read takes the newest commit's timestamp and waits for it).
func (q *Queuer) QueueGate(ctx context.Context, companyID string, dt dataset.DataType, connectionID, why string) (store.Dataset, *store.SyncGate, error) {
	d, err := q.queueOn(ctx, store.QueueRequest{
		ID: uuid.NewString(), CompanyID: companyID, ConnectionID: connectionID,
		DataType: dt, OrderBySettings: true, Message: why,
	})
	if err != nil {
		return store.Dataset{}, nil, err
	}
	return d.Dataset, &d.Gate, nil
}

// QueueAll queues every fetchOnFirstLink type of the company's settings that
// has nothing in progress, on every live connection (or the named one). It
// returns the datasets it queued.
func (q *Queuer) QueueAll(ctx context.Context, companyID, connectionID, why string) ([]store.Dataset, error) {
	return q.queueAll(ctx, companyID, connectionID, why, false)
}

// QueueFirstLink is QueueAll on a connection at its first link: each
// dataset names them all (store.Dataset.FirstLink), so the last to end
// sends read.completed.initial.
func (q *Queuer) QueueFirstLink(ctx context.Context, companyID, connectionID string) ([]store.Dataset, error) {
	return q.queueAll(ctx, companyID, connectionID, "first link", true)
}

func (q *Queuer) queueAll(ctx context.Context, companyID, connectionID, why string, firstLink bool) ([]store.Dataset, error) {
	conns, err := q.liveConnections(ctx, companyID, connectionID)
	if err != nil {
		return nil, err
	}
	settings, err := q.Settings(ctx, companyID)
	if err != nil {
		return nil, fmt.Errorf("sync settings: %w", err)
	}
	settings = slices.DeleteFunc(slices.Clone(settings), func(s store.SyncSetting) bool { return !s.FetchOnFirstLink })
	var queued []store.Dataset
	for _, conn := range conns {
		ids := make([]string, len(settings))
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		var names []string
		if firstLink {
			names = ids
		}
		for i, s := range settings {
			ds, err := q.queueOn(ctx, store.QueueRequest{
				ID: ids[i], FirstLink: names, CompanyID: conn.CompanyID, ConnectionID: conn.ID,
				DataType: s.DataType, SyncOrder: s.SyncOrder, Message: why,
			})
			var busy *store.InProgressError
			switch {
			case errors.As(err, &busy):
				continue
			case err != nil:
				return queued, err
			}
			queued = append(queued, ds.Dataset)
		}
	}
	return queued, nil
}

// queueOn queues r at the clock's time. A type the connection's platform
// does not provide ends NotSupported at once.
func (q *Queuer) queueOn(ctx context.Context, r store.QueueRequest) (store.Queued, error) {
	r.Now = q.Now().UTC()
	ds, err := q.Store.QueueDataset(ctx, r)
	if err != nil {
		return ds, err
	}
	if integ, ok := platform.Lookup(ds.Connection.PlatformKey); ok && ds.Status == dataset.Queued && !integ.Supports(r.DataType) {
		ds.Dataset, err = q.Store.Report(ctx, store.Report{
			CompanyID: ds.CompanyID, DatasetID: ds.ID, Actor: store.ActorCoordinator,
			To: dataset.NotSupported, Now: q.Now().UTC(),
			Message: fmt.Sprintf("%s does not provide %s", integ.Name, r.DataType),
		})
	}
	return ds, err
}

// liveConnections returns the named connection, or every connection of the
// company that is not Unlinked; ErrNoConnection when there is none.
func (q *Queuer) liveConnections(ctx context.Context, companyID, connectionID string) ([]store.Connection, error) {
	if connectionID != "" {
		c, err := q.Store.Connection(ctx, companyID, connectionID)
		if err != nil {
			return nil, err
		}
		return []store.Connection{c}, nil
	}
	all, err := q.Store.Connections(ctx, companyID)
	if err != nil {
		return nil, err
	}
	var live []store.Connection
	for _, c := range all {
		if c.Status != store.Unlinked {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return nil, store.ErrNoConnection
	}
	return live, nil
}
