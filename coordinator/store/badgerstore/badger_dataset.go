package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// statusPointer names the newest dataset of a type, or its newest Complete
// one: DataStatus reads these instead of the history.
type statusPointer struct {
	ID        string    `json:"id"`
	Requested time.Time `json:"requested"`
}

// newer reports whether d was requested after what p points to.
func (p statusPointer) newer(d *store.Dataset) bool {
	if c := d.Requested.Compare(p.Requested); c != 0 {
		return c > 0
	}
	return d.ID > p.ID
}

func getDataset(txn *tx, companyID, id string) (store.Dataset, error) {
	d, err := getDoc(txn, datasetKey(companyID, id), cloneDataset)
	return d, notFound(err, "dataset", id)
}

// datasetByID finds a dataset by its id alone.
func datasetByID(txn *tx, id string) (store.Dataset, error) {
	co, err := getString(txn, datasetIndexKey(id))
	if err != nil {
		return store.Dataset{}, notFound(err, "dataset", id)
	}
	return getDataset(txn, co, id)
}

// putDataset stores d, which was old before the change (nil for a new
// dataset), and brings every index and record that depends on it up to date.
func putDataset(txn *tx, old, d *store.Dataset) error {
	var before map[string][]byte
	if old != nil {
		before = datasetIndexes(old)
	}
	after := datasetIndexes(d)
	for k := range before {
		if _, ok := after[k]; !ok {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for k, v := range after {
		if was, ok := before[k]; ok && bytes.Equal(was, v) {
			continue
		}
		if err := txn.Set([]byte(k), v); err != nil {
			return err
		}
		txn.leased = txn.leased || strings.HasPrefix(k, "lx/")
	}
	if err := setJSON(txn, datasetKey(d.CompanyID, d.ID), d); err != nil {
		return err
	}
	txn.change.RecordDataset(old, d)
	var was dataset.Status
	if old != nil {
		was = old.Status
	}
	if err := countChange(txn, was, d.Status); err != nil {
		return err
	}
	if old == nil {
		if err := raisePointer(txn, d, "latest"); err != nil {
			return err
		}
		if err := scheduleQueued(txn, d); err != nil {
			return err
		}
	}
	if err := datasetEvents(txn, old, d); err != nil {
		return err
	}
	if err := bookErrors(txn, old, d); err != nil {
		return err
	}
	if rules.PagesEnded(old, d) {
		// Its staged pages are of no more use: PublishCache deletes them.
		if err := txn.Set(endedPagesKey(d.CompanyID, d.ID), nil); err != nil {
			return err
		}
	}
	if rules.Completes(old, d) {
		return completed(txn, d)
	}
	return nil
}

// bookErrors raises or resolves the book errors of d's connection
// (rules.BookErrors) when d's change from old says something of its book.
func bookErrors(txn *tx, old, d *store.Dataset) error {
	if !rules.TouchesBook(old, d) {
		return nil
	}
	c, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil || c == nil {
		return err
	}
	was := *c
	if !rules.BookErrors(c, old, d) {
		return nil
	}
	return putConnection(txn, &was, *c)
}

// completed records a dataset that reached Complete: the type's newest
// success, and the connection's last sync.
func completed(txn *tx, d *store.Dataset) error {
	if err := raisePointer(txn, d, "complete"); err != nil {
		return err
	}
	c, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil || c == nil {
		return err // c nil: the connection was deleted; its data stays
	}
	old := *c
	var moved bool
	if c.LastSync, moved = rules.LastSync(old, *d); !moved {
		return nil
	}
	return putConnection(txn, &old, *c)
}

// raisePointer points the type's pointer which at d if d is newer.
func raisePointer(txn *tx, d *store.Dataset, which string) error {
	k := statusKey(d.CompanyID, d.DataType, which)
	var p statusPointer
	err := getJSON(txn, k, &p)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	if err == nil && !p.newer(d) {
		return nil
	}
	return setJSON(txn, k, statusPointer{ID: d.ID, Requested: d.Requested})
}

func (b *Badger) QueueDataset(ctx context.Context, q store.QueueRequest) (store.Queued, error) {
	if err := rules.CheckQueueRequest(&q); err != nil {
		return store.Queued{}, err
	}
	var out store.Queued
	err := b.update(ctx, func(txn *tx) error {
		r := q // a retry picks the connection and the order again
		conn, err := queueConnection(txn, r.CompanyID, r.ConnectionID)
		if err != nil {
			return err
		}
		r.ConnectionID = conn.ID
		if r.OrderBySettings {
			settings, err := effectiveSettings(txn, r.CompanyID)
			if err != nil {
				return err
			}
			r.SyncOrder = rules.SyncOrder(settings, r.DataType)
		}
		d, err := rules.Queue(r, conn)
		if err != nil {
			return err
		}
		if err := mustBeFree(txn, datasetIndexKey(r.ID), "dataset "+r.ID); err != nil {
			return err
		}
		if err := checkNotInProgress(txn, r); err != nil {
			return err
		}
		gate, err := syncGate(txn, conn)
		if err != nil {
			return err
		}
		out = store.Queued{Dataset: d, Connection: conn, Gate: gate}
		return putDataset(txn, nil, &d)
	})
	return out, err
}

// queueConnection is the connection id of the company, or when id is
// empty the one rules.PickConnection picks of its connections.
func queueConnection(txn *tx, companyID, id string) (store.Connection, error) {
	if id != "" {
		return getConnection(txn, companyID, id)
	}
	if _, err := getCompany(txn, companyID); err != nil {
		return store.Connection{}, err
	}
	conns, err := listValues[store.Connection](txn, prefix("c", companyID, "conn"))
	if err != nil {
		return store.Connection{}, err
	}
	return rules.PickConnection(conns)
}

// checkNotInProgress is an *InProgressError when the type has a non-terminal
// dataset on the connection. It reads the active key even when missing, so
// that of two concurrent queue calls one conflicts and sees the other's.
func checkNotInProgress(txn *tx, q store.QueueRequest) error {
	id, err := getString(txn, activeKey(q.ConnectionID, q.DataType))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	d, err := getDataset(txn, q.CompanyID, id)
	if err != nil {
		return fmt.Errorf("active %s dataset of connection %s: %w", q.DataType, q.ConnectionID, err)
	}
	return &store.InProgressError{DatasetID: d.ID, Status: d.Status}
}

func (b *Badger) Dataset(ctx context.Context, companyID, id string) (store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", id); err != nil {
		return store.Dataset{}, err
	}
	var d store.Dataset
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		var err error
		d, err = getDataset(txn, companyID, id)
		return err
	})
	return d, err
}

func (b *Badger) Datasets(ctx context.Context, companyID string) ([]store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.Dataset
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		p := prefix("c", companyID, "dr")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, Reverse: true})
		defer it.Close()
		for it.Seek(append(bytes.Clone(p), 0xff)); it.ValidForPrefix(p); it.Next() {
			d, err := getDataset(txn, companyID, lastSegment(it.Item().Key()))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// DataStatus reads two pointers per data type with point lookups: a scan of
// the pointers' prefix would step over every old version of each pointer
// that compaction has not yet dropped, a cost that grows with the history.
func (b *Badger) DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	out := map[dataset.DataType]store.TypeStatus{}
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		for _, t := range dataset.DataTypes {
			latest, ok, err := pointedDataset(txn, companyID, t, "latest")
			if err != nil {
				return err
			}
			if !ok {
				continue // never queued
			}
			ts := store.TypeStatus{Latest: latest}
			success, ok, err := pointedDataset(txn, companyID, t, "complete")
			if err != nil {
				return err
			}
			if ok {
				ts.LatestSuccessful = &success
			}
			out[t] = ts
		}
		return nil
	})
	return out, err
}

// pointedDataset returns the dataset the type's pointer which points at;
// ok is false when there is no pointer.
func pointedDataset(txn *tx, companyID string, t dataset.DataType, which string) (store.Dataset, bool, error) {
	var p statusPointer
	err := getJSON(txn, statusKey(companyID, t, which), &p)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.Dataset{}, false, nil
	}
	if err != nil {
		return store.Dataset{}, false, err
	}
	d, err := getDataset(txn, companyID, p.ID)
	return d, err == nil, err
}

func (b *Badger) QueuedDatasets(ctx context.Context, connectionID string) ([]store.Dataset, *store.SyncGate, error) {
	if err := rules.LookupIDs("connection", connectionID); err != nil {
		return nil, nil, err
	}
	var (
		out  []store.Dataset
		gate *store.SyncGate
	)
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, queuedPrefix(connectionID), func(id string, co []byte) (store.Dataset, error) {
			return getDataset(txn, string(co), id)
		})
		if err != nil || len(out) == 0 {
			return err
		}
		c, err := findConnection(txn, out[0].CompanyID, connectionID)
		if err != nil || c == nil {
			return err // nil: the connection is gone
		}
		g, err := syncGate(txn, *c)
		if errors.Is(err, store.ErrNotFound) {
			return nil // its company is gone
		}
		gate = &g
		return err
	})
	return out, gate, err
}

// QueuedConnections' last answer is kept (Badger.queued) while no commit
// has moved a dataset or a connection since: the hub's sweep asks every
// few seconds, and a walk of the queued index steps over the deleted
// entry of every dataset dequeued since Badger last compacted them (the
// fleet's first-link datasets, the day's syncs), however few are queued.
// A connection gains its first queued dataset, or loses its last, only
// by a dataset's move (new, or to or from Queued: a Change.Datasets
// entry), a connection's deletion (Change.Connections), a company's
// deletion or an Import, and each of these moves the generation once it
// has committed.
func (b *Badger) QueuedConnections(ctx context.Context) ([]string, error) {
	if conns, ok := b.queued.get(); ok {
		return slices.Clone(conns), nil
	}
	gen := b.queued.generation()
	var out []string
	err := b.view(ctx, func(txn *tx) error {
		out = nil
		p := prefix("q")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); {
			// q/<connection>/<order>/<requested>/<dataset>: ids hold no '/'.
			conn, _, _ := strings.Cut(string(it.Item().Key()[len(p):]), "/")
			out = append(out, conn)
			it.Seek(append(queuedPrefix(conn), 0xff))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.queued.keep(gen, slices.Clone(out))
	return out, nil
}

func (b *Badger) SetValidation(ctx context.Context, companyID, datasetID string, v store.ValidationResult) error {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		// Reading the company makes a concurrent DeleteCompany conflict.
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		if _, err := getDataset(txn, companyID, datasetID); err != nil {
			return err
		}
		return setJSON(txn, validationKey(companyID, datasetID), v)
	})
}

func (b *Badger) Validation(ctx context.Context, companyID, datasetID string) (store.ValidationResult, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return store.ValidationResult{}, err
	}
	var v store.ValidationResult
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getDataset(txn, companyID, datasetID); err != nil {
			return err
		}
		err := getJSON(txn, validationKey(companyID, datasetID), &v)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	if v.Errors == nil {
		v.Errors = []store.ValidationItem{}
	}
	if v.Warnings == nil {
		v.Warnings = []store.ValidationItem{}
	}
	return v, err
}
