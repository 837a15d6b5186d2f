package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// maxPageNumber is the highest page number, as Badger's.
const maxPageNumber = 99_999_999

// uploading loads the dataset an agent uploads to: ErrNotFound unless its
// connection is bound to the agent. (A company's datasets are deleted with
// it, in one transaction: a dataset found is of a live company.)
func uploading(ctx context.Context, t *tx, agentID, datasetID string) (store.Dataset, error) {
	d, err := datasetByID(ctx, t, datasetID)
	if err != nil {
		return d, err
	}
	return d, agentsDataset(ctx, t, d, agentID)
}

// agentsDataset is ErrNotFound unless d's connection is bound to the
// agent (rules.AgentsDataset).
func agentsDataset(ctx context.Context, t *tx, d store.Dataset, agentID string) error {
	conn, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
	if err != nil {
		return err
	}
	return rules.AgentsDataset(d, conn, agentID)
}

func (p *PG) AgentDataset(ctx context.Context, agentID, datasetID string) (store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	var d store.Dataset
	err := p.view(ctx, func(t *tx) error {
		var err error
		d, err = uploading(ctx, t, agentID, datasetID)
		return err
	})
	return d, err
}

func (p *PG) PutPage(ctx context.Context, pg store.Page) error {
	if err := rules.LookupIDs("agent", pg.AgentID, "dataset", pg.DatasetID); err != nil {
		return err
	}
	if pg.N < 1 || pg.N > maxPageNumber {
		return fmt.Errorf("page %d of dataset %s: number must be 1 to %d", pg.N, pg.DatasetID, maxPageNumber)
	}
	if pg.Records < 0 {
		return fmt.Errorf("page %d of dataset %s: negative record count", pg.N, pg.DatasetID)
	}
	lines, err := store.EncodeLines(pg)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		d, err := uploading(ctx, t, pg.AgentID, pg.DatasetID)
		if err != nil {
			return err
		}
		if err := rules.CanStage(d, pg); err != nil {
			return err
		}
		// Stored already: an upload sent again.
		_, err = t.Exec(ctx, `INSERT INTO pages (dataset_id, lease_id, n, agent_id, records, lines, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			d.ID, pg.LeaseID, pg.N, pg.AgentID, pg.Records, lines, pg.Data)
		return err
	})
}

// Pages reads the pages with one query whose rows come one at a time, so
// that a dataset of many large pages never sits in memory at once.
func (p *PG) Pages(ctx context.Context, datasetID string, fn func(store.Page) error) error {
	if err := rules.LookupIDs("dataset", datasetID); err != nil {
		return err
	}
	return p.view(ctx, func(t *tx) error {
		d, err := datasetByID(ctx, t, datasetID)
		if err != nil {
			return err
		}
		lease := pagesLease(d)
		if lease == "" {
			return nil
		}
		rows, err := t.Query(ctx, `SELECT n, agent_id, records, data FROM pages
			WHERE dataset_id = $1 AND lease_id = $2 ORDER BY n`, d.ID, lease)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			pg := store.Page{DatasetID: d.ID, LeaseID: lease}
			if err := rows.Scan(&pg.N, &pg.AgentID, &pg.Records, &pg.Data); err != nil {
				return err
			}
			if err := fn(pg); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// pagesLease is the lease d's pages are staged under: its live lease in
// flight, its committed one after; "" for none.
func pagesLease(d store.Dataset) string {
	if rules.InFlight(d.Status) {
		return d.LeaseID
	}
	return d.CommittedLease
}

func (p *PG) CommitUpload(ctx context.Context, agentID, datasetID, leaseID string, now time.Time) (store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	if now.IsZero() {
		return store.Dataset{}, errors.New("commit upload: time is zero")
	}
	now = now.UTC()
	var out store.Dataset
	err := p.update(ctx, func(t *tx) error {
		d, err := uploading(ctx, t, agentID, datasetID)
		if err != nil {
			return err
		}
		out = d
		old := d
		if changed, err := rules.CommitUpload(&d, agentID, leaseID, now); err != nil || !changed {
			return err
		}
		out = d
		return putDataset(ctx, t, &old, &d)
	})
	return out, err
}

func (p *PG) Unprocessed(ctx context.Context) ([]store.Dataset, error) {
	var out []store.Dataset
	err := p.view(ctx, func(t *tx) error {
		var err error
		out, err = listDocs[store.Dataset](ctx, t,
			"SELECT d.doc FROM dataset_unprocessed u JOIN datasets d ON d.id = u.dataset_id ORDER BY u.dataset_id")
		return err
	})
	return out, err
}

// dropEarlierPages deletes the pages of d staged under any lease but its
// own. They are out of sight already (pages are kept by lease); this
// reclaims their space.
func (p *PG) dropEarlierPages(ctx context.Context, d store.Dataset) {
	_, err := p.pool.Exec(ctx, "DELETE FROM pages WHERE dataset_id = $1 AND lease_id <> $2", d.ID, d.LeaseID)
	if err != nil && ctx.Err() == nil {
		p.log.Warn("pages of an earlier attempt left; the next claim or the end of the dataset deletes them",
			"dataset", d.ID, "company", d.CompanyID, "err", err)
	}
}

// dropEndedPages deletes the staged pages of up to
// store.EndedPagesPerSweep datasets that ended (putDataset marks them),
// with their marks, a batch of datasets a statement. Replicas sweeping at
// once share the marks: each takes those no other holds (SKIP LOCKED).
func (p *PG) dropEndedPages(ctx context.Context) error {
	const batch = 16
	for range store.EndedPagesPerSweep / batch {
		var n int
		err := p.pool.QueryRow(ctx, `WITH ended AS (
				DELETE FROM ended_pages WHERE dataset_id IN
					(SELECT dataset_id FROM ended_pages LIMIT $1 FOR UPDATE SKIP LOCKED)
				RETURNING dataset_id),
			dropped AS (DELETE FROM pages WHERE dataset_id IN (SELECT dataset_id FROM ended))
			SELECT count(*) FROM ended`, batch).Scan(&n)
		if err != nil || n < batch {
			return err
		}
	}
	return nil
}
