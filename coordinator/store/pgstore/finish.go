package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// FinishUpload stores the validation, the transitions and the snapshot in
// one transaction: a small dataset's coordinator steps cost one commit
// (one WAL flush) instead of one each.
//
// The transaction is READ COMMITTED with row locks, not SERIALIZABLE:
// it reads and writes the pages and records of its dataset, and SSI's
// predicate locks on the index pages those share with every other
// dataset's made concurrent finishes abort each other (all 32 workers of
// BenchmarkLifecycle lost 30 races in a row). What it must hold it locks
// before reading: the company (KEY SHARE: no concurrent deletion), the
// connection (its last sync is read and written) and the dataset (no
// concurrent transition; a SERIALIZABLE writer of it waits, then runs
// again). The snapshot write of PublishCache is READ COMMITTED too.
func (p *PG) FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error) {
	if err := rules.CheckFinish(&f); err != nil {
		return store.Dataset{}, err
	}
	doc, err := jsonDoc(f.Validation)
	if err != nil {
		return store.Dataset{}, err
	}
	var lines []byte
	if f.Page != nil {
		if lines, err = store.EncodeLines(*f.Page); err != nil {
			return store.Dataset{}, err
		}
	}
	var out store.Dataset
	err = p.updateAt(ctx, pgx.ReadCommitted, func(t *tx) error {
		var err error
		out, err = finishUpload(ctx, t, f, doc, lines)
		return err
	})
	if err != nil {
		return out, err
	}
	// What is left reclaims space, as after PublishCache.
	if err := p.dropOrphanSnapshots(ctx, f.CompanyID, string(out.DataType)); err != nil && ctx.Err() == nil {
		p.log.Warn("old cached records left; the next publish deletes them", "company", f.CompanyID,
			"dataset", out.ID, "err", err)
	}
	if err := p.dropEndedPages(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("staged pages of ended datasets left; the next publish deletes them", "dataset", out.ID, "err", err)
	}
	return out, nil
}

// finishUpload is FinishUpload's transaction; validation is the
// store.ValidationResult's JSON, lines f.Page's line index.
func finishUpload(ctx context.Context, t *tx, f store.Finish, validation, lines []byte) (store.Dataset, error) {
	d, err := lockFinishing(ctx, t, f.CompanyID, f.DatasetID)
	if err != nil {
		return d, err
	}
	if f.LeaseID != "" {
		if err := agentsDataset(ctx, t, d, f.AgentID); err != nil {
			return store.Dataset{}, err
		}
	}
	steps, err := rules.Finish(d, f)
	if err != nil || len(steps) == 0 {
		return d, err
	}
	if pg := f.Page; pg != nil {
		// Staged already: a page sent again.
		_, err = t.Exec(ctx, `INSERT INTO pages (dataset_id, lease_id, n, agent_id, records, lines, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			d.ID, pg.LeaseID, pg.N, pg.AgentID, pg.Records, lines, pg.Data)
		if err != nil {
			return d, err
		}
	}
	if f.Failure == "" {
		if err := checkFinishSize(ctx, t, d); err != nil {
			return d, err
		}
	}
	_, err = t.Exec(ctx, `INSERT INTO validations (dataset_id, doc) VALUES ($1, $2)
		ON CONFLICT (dataset_id) DO UPDATE SET doc = EXCLUDED.doc`, d.ID, validation)
	if err != nil {
		return d, err
	}
	prev := d
	for i := range steps {
		s := &steps[i]
		if s.Status == dataset.Complete {
			// prev, Processing, is stored: writeSnapshot writes its records.
			if err := swapInSmall(ctx, t, prev); err != nil {
				return d, err
			}
		}
		if err := putDataset(ctx, t, &prev, s); err != nil {
			return d, err
		}
		prev = *s
	}
	// The pages are of no more use, nor the mark that would sweep them.
	_, err = t.Exec(ctx, `WITH dropped AS (DELETE FROM pages WHERE dataset_id = $1)
		DELETE FROM ended_pages WHERE dataset_id = $1`, d.ID)
	return prev, err
}

// checkFinishSize is store.ErrTooLarge when d's staged pages hold more
// than store.MaxFinishRecords records or store.MaxFinishBytes bytes.
func checkFinishSize(ctx context.Context, t *tx, d store.Dataset) error {
	var records, bytes int64
	err := t.QueryRow(ctx, `SELECT coalesce(sum(records), 0), coalesce(sum(octet_length(data)), 0)
		FROM pages WHERE dataset_id = $1 AND lease_id = $2`, d.ID, pagesLease(d)).Scan(&records, &bytes)
	if err != nil {
		return err
	}
	if records > store.MaxFinishRecords || bytes > store.MaxFinishBytes {
		return fmt.Errorf("finish dataset %s: %w", d.ID, store.ErrTooLarge)
	}
	return nil
}

// swapInSmall writes the snapshot of d, Processing, points the cache at
// it and deletes the snapshot it replaces when that one is small and no
// reader holds it (a larger or a held one is left to dropOrphanSnapshots,
// after the commit, or to its last reader's stopReading).
func swapInSmall(ctx context.Context, t *tx, d store.Dataset) error {
	if err := writeSnapshot(ctx, t, d, nil); err != nil {
		return err
	}
	dt := string(d.DataType)
	cur, err := currentSnapshot(ctx, t, d.CompanyID, dt)
	if err != nil {
		return err
	}
	if cur != "" && cur != d.ID {
		if err := deleteUnheld(ctx, t, cur, store.MaxFinishRecords+1); err != nil {
			return err
		}
	}
	_, err = t.Exec(ctx, `INSERT INTO cache_current (company_id, data_type, dataset_id) VALUES ($1, $2, $3)
		ON CONFLICT (company_id, data_type) DO UPDATE SET dataset_id = EXCLUDED.dataset_id`, d.CompanyID, dt, d.ID)
	return err
}

// lockFinishing locks, in this order, the company (against its deletion),
// the dataset's connection and the dataset, and returns the dataset as
// locked. ErrNotFound if the company or dataset is missing.
func lockFinishing(ctx context.Context, t *tx, companyID, id string) (store.Dataset, error) {
	var conn string
	err := t.QueryRow(ctx, `SELECT d.connection_id FROM companies c JOIN datasets d ON d.company_id = c.id
		WHERE c.id = $1 AND d.id = $2 FOR KEY SHARE OF c`, companyID, id).Scan(&conn)
	if err != nil {
		return store.Dataset{}, notFound(err, "dataset", id)
	}
	if _, err := t.Exec(ctx, "SELECT 1 FROM connections WHERE id = $1 FOR UPDATE", conn); err != nil {
		return store.Dataset{}, err
	}
	d, err := getDoc[store.Dataset](ctx, t, "SELECT doc FROM datasets WHERE id = $1 AND company_id = $2 FOR UPDATE", id, companyID)
	return d, notFound(err, "dataset", id)
}
