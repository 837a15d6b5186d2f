package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Claim is won once across every replica: the claims of one dataset all
// update its row, and of two SERIALIZABLE transactions that do, the later
// to commit fails and runs again, to find the dataset no longer Queued.
func (p *PG) Claim(ctx context.Context, c store.ClaimRequest) (store.Dataset, error) {
	if err := rules.CheckClaim(&c); err != nil {
		return store.Dataset{}, err
	}
	var (
		out     store.Dataset
		revoked bool // the connection was withdrawn: the dataset was ended
	)
	err := p.update(ctx, func(t *tx) error {
		d, err := datasetByID(ctx, t, c.DatasetID)
		if err != nil {
			return err
		}
		conn, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
		if err != nil {
			return err
		}
		var gate store.SyncGate
		if conn != nil && conn.Status == store.Linked {
			// A company being deleted has no window to hold it.
			if gate, err = syncGate(ctx, t, *conn); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		old := d
		if revoked, err = rules.Claim(&d, conn, gate, c); err != nil {
			return err
		}
		out = d
		return putDataset(ctx, t, &old, &d)
	})
	if err == nil && revoked {
		return out, fmt.Errorf("claim %s: %s: %w", c.DatasetID, out.ErrorMessage, store.ErrNotQueued)
	}
	if err == nil && rules.EarlierLeases(out) {
		p.dropEarlierPages(ctx, out)
	}
	return out, err
}

func (p *PG) Report(ctx context.Context, r store.Report) (store.Dataset, error) {
	if err := rules.CheckReport(r); err != nil {
		return store.Dataset{}, err
	}
	var out store.Dataset
	err := p.update(ctx, func(t *tx) (err error) {
		out, err = applyReport(ctx, t, r)
		return err
	})
	return out, err
}

func (p *PG) ReportAll(ctx context.Context, rs []store.Report) ([]store.Dataset, error) {
	if err := rules.CheckReports(rs); err != nil {
		return nil, err
	}
	var out []store.Dataset
	err := p.update(ctx, func(t *tx) error {
		out = out[:0]
		for _, r := range rs {
			d, err := applyReport(ctx, t, r)
			if rules.Skipped(err) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// applyReport applies r, its time in UTC, in t and returns the
// dataset as it left it.
func applyReport(ctx context.Context, t *tx, r store.Report) (store.Dataset, error) {
	r.Now = r.Now.UTC()
	d, err := getDataset(ctx, t, r.CompanyID, r.DatasetID)
	if err != nil {
		return store.Dataset{}, err
	}
	if r.LeaseID != "" {
		// An agent's report: on another agent's dataset it is the
		// answer to an id that does not exist, whatever the state.
		if err := agentsDataset(ctx, t, d, r.Actor); err != nil {
			return store.Dataset{}, err
		}
	}
	old := d
	changed, err := rules.ApplyReport(&d, r)
	if err != nil || !changed {
		return d, err
	}
	return d, putDataset(ctx, t, &old, &d)
}

// RenewLeases reads in a snapshot first whether the agent holds any lease:
// most heartbeats come from agents that hold none, and a read-only
// transaction takes no part in serialization.
func (p *PG) RenewLeases(ctx context.Context, agentID string, until time.Time) ([]store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	if until.IsZero() {
		return nil, errors.New("renew leases: time is zero")
	}
	until = until.UTC()
	const held = `SELECT d.doc FROM dataset_leases l JOIN datasets d ON d.id = l.dataset_id
		WHERE l.agent_id = $1 ORDER BY l.dataset_id`
	var out []store.Dataset
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Dataset](ctx, t, held, agentID)
		return err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	err = p.update(ctx, func(t *tx) error {
		list, err := listDocs[store.Dataset](ctx, t, held, agentID)
		if err != nil {
			return err
		}
		out = nil
		for _, d := range list {
			if !rules.HeldBy(d, agentID) {
				continue
			}
			old := d
			if rules.RenewLease(&d, agentID, until) {
				if err := putDataset(ctx, t, &old, &d); err != nil {
					return err
				}
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

func (p *PG) RevokeLease(ctx context.Context, agentID, companyID, datasetID string) error {
	if err := rules.LookupIDs("agent", agentID, "company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		d, err := getDataset(ctx, t, companyID, datasetID)
		if err != nil {
			return err
		}
		if !rules.HeldBy(d, agentID) {
			return nil
		}
		old := d
		rules.RevokeLease(&d)
		return putDataset(ctx, t, &old, &d)
	})
}

// leaseRef names a dataset whose lease is due.
type leaseRef struct{ company, id string }

// ExpireLeases expires each due lease in a transaction of its own, which
// reads the dataset again: a lease renewed, or expired by another replica,
// since the due ones were listed is left as it is.
func (p *PG) ExpireLeases(ctx context.Context, now time.Time) ([]store.Dataset, error) {
	if now.IsZero() {
		return nil, errors.New("expire leases: time is zero")
	}
	now = now.UTC()
	var due []leaseRef
	err := p.view(ctx, func(t *tx) error {
		rows, err := t.Query(ctx, `SELECT d.company_id, d.id FROM dataset_leases l JOIN datasets d ON d.id = l.dataset_id
			WHERE l.expires <= $1 ORDER BY l.expires, l.dataset_id`, now)
		if err != nil {
			return err
		}
		due = due[:0]
		for rows.Next() {
			var ref leaseRef
			if err := rows.Scan(&ref.company, &ref.id); err != nil {
				return err
			}
			due = append(due, ref)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	var moved []store.Dataset
	for _, ref := range due {
		var (
			d  store.Dataset
			ok bool
		)
		err := p.update(ctx, func(t *tx) error {
			var err error
			d, ok, err = expireLease(ctx, t, ref, now)
			return err
		})
		if err != nil {
			return moved, fmt.Errorf("expire lease of dataset %s: %w", ref.id, err)
		}
		if ok {
			moved = append(moved, d)
		}
	}
	return moved, nil
}

// expireLease expires the lease of one dataset if it is still in flight and
// its lease is still due; ok reports whether it did.
func expireLease(ctx context.Context, t *tx, ref leaseRef, now time.Time) (d store.Dataset, ok bool, err error) {
	d, err = getDataset(ctx, t, ref.company, ref.id)
	if errors.Is(err, store.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	conn, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
	if err != nil {
		return d, false, err
	}
	old := d
	if ok, err := rules.ExpireLease(&d, conn, now); err != nil || !ok {
		return d, false, err
	}
	return d, true, putDataset(ctx, t, &old, &d)
}
