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
// dataset), with the columns its lookups use, and records what depends on
// the change: the feed's change, the counts, the schedule of a new one,
// its webhook events, the pages it leaves, its connection's last sync.
func putDataset(ctx context.Context, t *tx, old, d *store.Dataset) error {
	doc, err := jsonDoc(d)
	if err != nil {
		return err
	}
	var (
		expires *time.Time
		agent   *string
	)
	if rules.InFlight(d.Status) {
		e := d.LeaseExpires.UTC()
		expires = &e
		if d.LeaseID != "" {
			agent = &d.LeaseAgent
		}
	}
	args := []any{d.ID, d.CompanyID, d.ConnectionID, d.DataType, d.Status, d.Requested.UTC(), d.SyncOrder,
		!d.Status.Terminal(), expires, agent, doc}
	if old == nil {
		_, err = t.Exec(ctx, `INSERT INTO datasets (id, company_id, connection_id, data_type, status, requested,
			sync_order, active, lease_expires, lease_agent, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, args...)
	} else {
		_, err = t.Exec(ctx, `UPDATE datasets SET company_id = $2, connection_id = $3, data_type = $4, status = $5,
			requested = $6, sync_order = $7, active = $8, lease_expires = $9, lease_agent = $10, doc = $11
			WHERE id = $1`, args...)
	}
	if err != nil {
		return err
	}
	t.change.RecordDataset(old, d)
	var was dataset.Status
	if old != nil {
		was = old.Status
	}
	if err := countChange(ctx, t, was, d.Status); err != nil {
		return err
	}
	if old == nil {
		if err := scheduleQueued(ctx, t, d); err != nil {
			return err
		}
	}
	if err := datasetEvents(ctx, t, old, d); err != nil {
		return err
	}
	if rules.PagesEnded(old, d) {
		// Its staged pages are of no more use: PublishCache deletes them.
		if _, err := t.Exec(ctx, "INSERT INTO ended_pages (dataset_id) VALUES ($1) ON CONFLICT DO NOTHING", d.ID); err != nil {
			return err
		}
	}
	if rules.Completes(old, d) {
		return completed(ctx, t, d)
	}
	return nil
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

func (p *PG) QueueDataset(ctx context.Context, q store.QueueRequest) (store.Dataset, error) {
	if err := rules.CheckQueueRequest(&q); err != nil {
		return store.Dataset{}, err
	}
	var out store.Dataset
	queue := func(t *tx) error {
		conn, err := getConnection(ctx, t, q.CompanyID, q.ConnectionID)
		if err != nil {
			return err
		}
		d, err := rules.Queue(q, conn)
		if err != nil {
			return err
		}
		var taken bool
		if err := t.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = $1)", q.ID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("dataset %s: %w", q.ID, store.ErrExists)
		}
		if err := checkNotInProgress(ctx, t, q); err != nil {
			return err
		}
		out = d
		return putDataset(ctx, t, nil, &d)
	}
	for run := 1; ; run++ {
		err := p.update(ctx, queue)
		switch constraint(err) {
		case "datasets_pkey":
			return out, fmt.Errorf("dataset %s: %w", q.ID, store.ErrExists)
		case "datasets_active":
			// A concurrent call queued the type first, unseen by this
			// one's check: run again, to answer with that dataset.
			if run < 3 {
				continue
			}
		}
		return out, err
	}
}

// constraint is the name of the constraint err violates; "" for none.
func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && isUnique(err) {
		return pe.ConstraintName
	}
	return ""
}

// checkNotInProgress is an *InProgressError when the type has a non-terminal
// dataset on the connection. Of two concurrent queue calls that both find
// none, the partial unique index datasets_active lets one commit.
func checkNotInProgress(ctx context.Context, t *tx, q store.QueueRequest) error {
	var (
		id     string
		status dataset.Status
	)
	err := t.QueryRow(ctx, "SELECT id, status FROM datasets WHERE connection_id = $1 AND data_type = $2 AND active",
		q.ConnectionID, q.DataType).Scan(&id, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &store.InProgressError{DatasetID: id, Status: status}
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
			LEFT JOIN LATERAL (SELECT doc FROM datasets WHERE company_id = $1 AND data_type = types.data_type
				AND status = 'Complete' ORDER BY requested DESC, id DESC LIMIT 1) AS complete ON true`,
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

func (p *PG) QueuedDatasets(ctx context.Context, connectionID string) ([]store.Dataset, error) {
	if err := rules.LookupIDs("connection", connectionID); err != nil {
		return nil, err
	}
	var out []store.Dataset
	err := p.view(ctx, func(t *tx) error {
		var err error
		out, err = listDocs[store.Dataset](ctx, t, `SELECT doc FROM datasets WHERE connection_id = $1
			AND status = 'Queued' ORDER BY sync_order, requested, id`, connectionID)
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
// the time now. It reads them with the predicate the partial unique index
// datasets_active keeps, so that a dataset queued concurrently makes one of
// the two transactions fail to serialize.
func endConnectionWork(ctx context.Context, t *tx, c store.Connection, why string) error {
	now := time.Now().UTC()
	active, err := listDocs[store.Dataset](ctx, t,
		"SELECT doc FROM datasets WHERE connection_id = $1 AND active ORDER BY data_type", c.ID)
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
