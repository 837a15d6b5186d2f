package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// getDataset returns a dataset of a company; ErrNotFound if missing.
func getDataset(ctx context.Context, t *tx, companyID, id string) (store.Dataset, error) {
	d, err := getDoc[store.Dataset](ctx, t, "SELECT doc FROM datasets WHERE id = $1 AND company_id = $2", id, companyID)
	return d, notFound(err, "dataset", id)
}

// datasetByID finds a dataset by its id alone.
func datasetByID(ctx context.Context, t *tx, id string) (store.Dataset, error) {
	d, err := getDoc[store.Dataset](ctx, t, "SELECT doc FROM datasets WHERE id = $1", id)
	return d, notFound(err, "dataset", id)
}

// putDataset stores d, which was old before the change (nil for a new
// dataset), with the rows of the lookups its state puts it in, and records
// what depends on the change: the feed's change, the counts, the schedule
// of a new one, its webhook events, the pages it leaves, its connection's
// last sync. A unique violation is the caller's to name: datasets_pkey
// (the id is taken), dataset_active_pkey (the type has a non-terminal
// dataset on the connection).
func putDataset(ctx context.Context, t *tx, old, d *store.Dataset) error {
	doc, err := jsonDoc(d)
	if err != nil {
		return err
	}
	// The writes of the dataset's own tables go in one round trip.
	b := &pgx.Batch{}
	if old == nil {
		b.Queue(`INSERT INTO datasets (id, company_id, connection_id, data_type, requested, status, doc)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.ID, d.CompanyID, d.ConnectionID, d.DataType, d.Requested.UTC(), d.Status, doc)
	} else {
		b.Queue("UPDATE datasets SET status = $2, doc = $3 WHERE id = $1", d.ID, d.Status, doc)
	}
	queueLookups(b, old, d)
	var was dataset.Status
	if old != nil {
		was = old.Status
	}
	queueCountChange(b, was, d.Status)
	if rules.PagesEnded(old, d) {
		// Its staged pages are of no more use: PublishCache deletes them.
		b.Queue("INSERT INTO ended_pages (dataset_id) VALUES ($1) ON CONFLICT DO NOTHING", d.ID)
	}
	if err := t.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	t.change.RecordDataset(old, d)
	if old == nil {
		if err := scheduleQueued(ctx, t, d); err != nil {
			return err
		}
	}
	if err := datasetEvents(ctx, t, old, d); err != nil {
		return err
	}
	if err := bookErrors(ctx, t, old, d); err != nil {
		return err
	}
	if rules.Completes(old, d) {
		return completed(ctx, t, d)
	}
	return nil
}

// lookups is what d's state puts it in: the rows it has in the lookup
// tables (0002_datasets.sql).
type lookups struct {
	active, queued, unprocessed bool
	// inFlight: a row in dataset_leases, with expires and agent ("" when
	// no live lease holds it: revoked).
	inFlight bool
	expires  time.Time
	agent    string
}

// lookupsOf is what d's state puts it in; none for nil.
func lookupsOf(d *store.Dataset) lookups {
	if d == nil {
		return lookups{}
	}
	l := lookups{
		active:      !d.Status.Terminal(),
		queued:      d.Status == dataset.Queued,
		unprocessed: d.Status == dataset.Validating || d.Status == dataset.Processing,
		inFlight:    rules.InFlight(d.Status),
	}
	if l.inFlight {
		l.expires = d.LeaseExpires.UTC()
		if d.LeaseID != "" {
			l.agent = d.LeaseAgent
		}
	}
	return l
}

// queueLookups queues on b the writes of the difference between the
// lookup rows of old and d.
func queueLookups(b *pgx.Batch, old, d *store.Dataset) {
	was, is := lookupsOf(old), lookupsOf(d)
	switch {
	case is.active && !was.active:
		b.Queue("INSERT INTO dataset_active (connection_id, data_type, dataset_id) VALUES ($1, $2, $3)",
			d.ConnectionID, d.DataType, d.ID)
	case was.active && !is.active:
		b.Queue("DELETE FROM dataset_active WHERE dataset_id = $1", d.ID)
	}
	switch {
	case is.queued && !was.queued:
		b.Queue("INSERT INTO dataset_queue (dataset_id, connection_id, sync_order, requested) VALUES ($1, $2, $3, $4)",
			d.ID, d.ConnectionID, d.SyncOrder, d.Requested.UTC())
	case was.queued && !is.queued:
		b.Queue("DELETE FROM dataset_queue WHERE dataset_id = $1", d.ID)
	}
	switch {
	case is.unprocessed && !was.unprocessed:
		b.Queue("INSERT INTO dataset_unprocessed (dataset_id) VALUES ($1)", d.ID)
	case was.unprocessed && !is.unprocessed:
		b.Queue("DELETE FROM dataset_unprocessed WHERE dataset_id = $1", d.ID)
	}
	agent := func(l lookups) *string {
		if l.agent == "" {
			return nil
		}
		return &l.agent
	}
	switch {
	case is.inFlight && !was.inFlight:
		b.Queue("INSERT INTO dataset_leases (dataset_id, expires, agent_id) VALUES ($1, $2, $3)",
			d.ID, is.expires, agent(is))
	case is.inFlight && (!is.expires.Equal(was.expires) || is.agent != was.agent):
		b.Queue("UPDATE dataset_leases SET expires = $2, agent_id = $3 WHERE dataset_id = $1",
			d.ID, is.expires, agent(is))
	case was.inFlight && !is.inFlight:
		b.Queue("DELETE FROM dataset_leases WHERE dataset_id = $1", d.ID)
	}
	if rules.Completes(old, d) {
		b.Queue("INSERT INTO dataset_complete (dataset_id, company_id, data_type, requested) VALUES ($1, $2, $3, $4)",
			d.ID, d.CompanyID, d.DataType, d.Requested.UTC())
	}
}

// completed records a dataset that reached Complete as its connection's
// last sync. (The type's newest success is an index: DataStatus.)
func completed(ctx context.Context, t *tx, d *store.Dataset) error {
	c, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
	if err != nil || c == nil {
		return err // c nil: the connection was deleted; its data stays
	}
	old := *c
	var moved bool
	if c.LastSync, moved = rules.LastSync(old, *d); !moved {
		return nil
	}
	return putConnection(ctx, t, &old, *c)
}

// QueueDataset inserts the dataset without looking for one in progress
// first: a read of the lookup's index page would make every concurrent
// queue call on that page conflict. The key of dataset_active refuses a
// second non-terminal dataset, and a view then says which one holds it.
func (p *PG) QueueDataset(ctx context.Context, q store.QueueRequest) (store.Queued, error) {
	if err := rules.CheckQueueRequest(&q); err != nil {
		return store.Queued{}, err
	}
	var out store.Queued
	queue := func(t *tx) error {
		r := q // a retry picks the connection and the order again
		conn, err := queueConnection(ctx, t, r.CompanyID, r.ConnectionID)
		if err != nil {
			return err
		}
		r.ConnectionID = conn.ID
		if r.OrderBySettings {
			settings, err := effectiveSettings(ctx, t, r.CompanyID)
			if err != nil {
				return err
			}
			r.SyncOrder = rules.SyncOrder(settings, r.DataType)
		}
		d, err := rules.Queue(r, conn)
		if err != nil {
			return err
		}
		gate, err := syncGate(ctx, t, conn)
		if err != nil {
			return err
		}
		out = store.Queued{Dataset: d, Connection: conn, Gate: gate}
		return putDataset(ctx, t, nil, &d)
	}
	for run := 1; ; run++ {
		err := p.update(ctx, queue)
		switch constraint(err) {
		case "datasets_pkey":
			return store.Queued{}, fmt.Errorf("dataset %s: %w", q.ID, store.ErrExists)
		case "dataset_active_pkey":
			if err := p.inProgress(ctx, out.ConnectionID, q.DataType); err != nil || run == 3 {
				return store.Queued{}, err
			}
			continue // it ended meanwhile
		}
		return out, err
	}
}

// queueConnection is the connection id of the company, or when id is
// empty the one rules.PickConnection picks of its connections.
func queueConnection(ctx context.Context, t *tx, companyID, id string) (store.Connection, error) {
	if id != "" {
		return getConnection(ctx, t, companyID, id)
	}
	if _, err := getCompany(ctx, t, companyID); err != nil {
		return store.Connection{}, err
	}
	conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE company_id = $1", companyID)
	if err != nil {
		return store.Connection{}, err
	}
	return rules.PickConnection(conns)
}

// constraint is the name of the unique constraint err violates; "" for
// none.
func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && isUnique(err) {
		return pe.ConstraintName
	}
	return ""
}

// inProgress is an *InProgressError naming the type's non-terminal dataset
// on the connection; nil if it has none.
func (p *PG) inProgress(ctx context.Context, connectionID string, dt dataset.DataType) error {
	return p.view(ctx, func(t *tx) error {
		var (
			id     string
			status dataset.Status
		)
		err := t.QueryRow(ctx, `SELECT d.id, d.status FROM dataset_active a JOIN datasets d ON d.id = a.dataset_id
			WHERE a.connection_id = $1 AND a.data_type = $2`, connectionID, dt).Scan(&id, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return &store.InProgressError{DatasetID: id, Status: status}
	})
}

func (p *PG) Dataset(ctx context.Context, companyID, id string) (store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", id); err != nil {
		return store.Dataset{}, err
	}
	var d store.Dataset
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		var err error
		d, err = getDataset(ctx, t, companyID, id)
		return err
	})
	return d, err
}

func (p *PG) Datasets(ctx context.Context, companyID string) ([]store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.Dataset
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		var err error
		out, err = listDocs[store.Dataset](ctx, t,
			"SELECT doc FROM datasets WHERE company_id = $1 ORDER BY requested DESC, id DESC", companyID)
		return err
	})
	return out, err
}

// DataStatus reads, per data type, the newest dataset and the newest
// Complete one from the indexes that order them, one row each.
func (p *PG) DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	types := make([]string, len(dataset.DataTypes))
	for i, dt := range dataset.DataTypes {
		types[i] = string(dt)
	}
	out := map[dataset.DataType]store.TypeStatus{}
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		rows, err := t.Query(ctx, `SELECT latest.doc, complete.doc FROM unnest($2::text[]) AS types (data_type)
			CROSS JOIN LATERAL (SELECT doc FROM datasets WHERE company_id = $1 AND data_type = types.data_type
				ORDER BY requested DESC, id DESC LIMIT 1) AS latest
			LEFT JOIN LATERAL (SELECT d.doc FROM dataset_complete c JOIN datasets d ON d.id = c.dataset_id
				WHERE c.company_id = $1 AND c.data_type = types.data_type
				ORDER BY c.requested DESC, c.dataset_id DESC LIMIT 1) AS complete ON true`,
			companyID, types)
		if err != nil {
			return err
		}
		for rows.Next() {
			var latest, complete []byte
			if err := rows.Scan(&latest, &complete); err != nil {
				return err
			}
			var ts store.TypeStatus
			if err := json.Unmarshal(latest, &ts.Latest); err != nil {
				return fmt.Errorf("decode dataset: %w", err)
			}
			if complete != nil {
				ts.LatestSuccessful = &store.Dataset{}
				if err := json.Unmarshal(complete, ts.LatestSuccessful); err != nil {
					return fmt.Errorf("decode dataset: %w", err)
				}
			}
			out[ts.Latest.DataType] = ts
		}
		return rows.Err()
	})
	return out, err
}

func (p *PG) QueuedDatasets(ctx context.Context, connectionID string) ([]store.Dataset, *store.SyncGate, error) {
	if err := rules.LookupIDs("connection", connectionID); err != nil {
		return nil, nil, err
	}
	var (
		out  []store.Dataset
		gate *store.SyncGate
	)
	err := p.view(ctx, func(t *tx) error {
		var err error
		out, err = listDocs[store.Dataset](ctx, t, `SELECT d.doc FROM dataset_queue q JOIN datasets d ON d.id = q.dataset_id
			WHERE q.connection_id = $1 ORDER BY q.sync_order, q.requested, q.dataset_id`, connectionID)
		if err != nil || len(out) == 0 {
			return err
		}
		c, err := findConnection(ctx, t, out[0].CompanyID, connectionID)
		if err != nil || c == nil {
			return err // nil: the connection is gone
		}
		g, err := syncGate(ctx, t, *c)
		if errors.Is(err, store.ErrNotFound) {
			return nil // its company is gone
		}
		gate = &g
		return err
	})
	return out, gate, err
}

func (p *PG) QueuedConnections(ctx context.Context) ([]string, error) {
	var out []string
	err := p.view(ctx, func(t *tx) error {
		// dataset_queue holds the Queued datasets only: the cost grows with them.
		rows, err := t.Query(ctx, `SELECT DISTINCT connection_id COLLATE "C" AS c FROM dataset_queue ORDER BY c`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

func (p *PG) SetValidation(ctx context.Context, companyID, datasetID string, v store.ValidationResult) error {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	doc, err := jsonDoc(v)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		if _, err := getDataset(ctx, t, companyID, datasetID); err != nil {
			return err
		}
		_, err := t.Exec(ctx, `INSERT INTO validations (dataset_id, doc) VALUES ($1, $2)
			ON CONFLICT (dataset_id) DO UPDATE SET doc = EXCLUDED.doc`, datasetID, doc)
		return err
	})
}

func (p *PG) Validation(ctx context.Context, companyID, datasetID string) (store.ValidationResult, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return store.ValidationResult{}, err
	}
	var v store.ValidationResult
	err := p.view(ctx, func(t *tx) error {
		if _, err := getDataset(ctx, t, companyID, datasetID); err != nil {
			return err
		}
		var err error
		v, err = getDoc[store.ValidationResult](ctx, t, "SELECT doc FROM validations WHERE dataset_id = $1", datasetID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // none stored
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

// endConnectionWork moves the connection's Queued datasets to AuthError and
// revokes the leases on its in-flight ones, stamping the transitions with
// now. It reads the connection's rows of dataset_active, so that
// a dataset queued concurrently makes one of the two transactions fail to
// serialize.
func endConnectionWork(ctx context.Context, t *tx, c store.Connection, why string, now time.Time) error {
	now = now.UTC()
	active, err := listDocs[store.Dataset](ctx, t,
		`SELECT d.doc FROM dataset_active a JOIN datasets d ON d.id = a.dataset_id
			WHERE a.connection_id = $1 ORDER BY a.data_type`, c.ID)
	if err != nil {
		return err
	}
	for _, d := range active {
		old := d
		changed, err := rules.EndWork(&d, now, why)
		if err != nil {
			return err
		}
		if !changed {
			continue // past the agent: let it finish
		}
		if err := putDataset(ctx, t, &old, &d); err != nil {
			return err
		}
	}
	return nil
}
