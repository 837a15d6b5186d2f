package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func (b *Badger) Claim(ctx context.Context, c store.ClaimRequest) (store.Dataset, error) {
	if err := rules.CheckClaim(&c); err != nil {
		return store.Dataset{}, err
	}
	var (
		out     store.Dataset
		revoked bool // the connection was withdrawn: the dataset was ended
	)
	err := b.update(ctx, func(txn *tx) error {
		d, err := datasetByID(txn, c.DatasetID)
		if err != nil {
			return err
		}
		conn, err := findConnection(txn, d.CompanyID, d.ConnectionID)
		if err != nil {
			return err
		}
		var gate store.SyncGate
		if conn != nil && conn.Status == store.Linked {
			// A company being deleted has no window to hold it.
			if gate, err = syncGate(txn, *conn); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		old := d
		if revoked, err = rules.Claim(&d, conn, gate, c); err != nil {
			return err
		}
		out = d
		return putDataset(txn, &old, &d)
	})
	if err == nil && revoked {
		return out, fmt.Errorf("claim %s: %s: %w", c.DatasetID, out.ErrorMessage, store.ErrNotQueued)
	}
	if err == nil && rules.EarlierLeases(out) {
		b.dropEarlierPages(ctx, out)
	}
	return out, err
}

func (b *Badger) Report(ctx context.Context, r store.Report) (store.Dataset, error) {
	if err := rules.CheckReport(r); err != nil {
		return store.Dataset{}, err
	}
	var out store.Dataset
	err := b.update(ctx, func(txn *tx) (err error) {
		out, err = applyReport(txn, r)
		return err
	})
	return out, err
}

func (b *Badger) ReportAll(ctx context.Context, rs []store.Report) ([]store.Dataset, error) {
	if err := rules.CheckReports(rs); err != nil {
		return nil, err
	}
	var out []store.Dataset
	err := b.update(ctx, func(txn *tx) error {
		out = out[:0]
		for _, r := range rs {
			d, err := applyReport(txn, r)
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

// applyReport applies r, its time in UTC, in txn and returns the
// dataset as it left it.
func applyReport(txn *tx, r store.Report) (store.Dataset, error) {
	r.Now = r.Now.UTC()
	// Reading the company makes a concurrent DeleteCompany conflict.
	if _, err := getCompany(txn, r.CompanyID); err != nil {
		return store.Dataset{}, err
	}
	d, err := getDataset(txn, r.CompanyID, r.DatasetID)
	if err != nil {
		return store.Dataset{}, err
	}
	if r.LeaseID != "" {
		// An agent's report: on another agent's dataset it is the
		// answer to an id that does not exist, whatever the state.
		if err := agentsDataset(txn, d, r.Actor); err != nil {
			return store.Dataset{}, err
		}
	}
	old := d
	changed, err := rules.ApplyReport(&d, r)
	if err != nil || !changed {
		return d, err
	}
	return d, putDataset(txn, &old, &d)
}

// RenewLeases reads first, in a read-only transaction, whether the agent
// holds any lease: most heartbeats come from agents that hold none, and an
// update transaction would take one of the maxOpenUpdates slots the
// writers wait for, and a place in what every commit checks. A lease taken
// after that read is one a claim has just set, to its full length.
func (b *Badger) RenewLeases(ctx context.Context, agentID string, until time.Time) ([]store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	if until.IsZero() {
		return nil, errors.New("renew leases: time is zero")
	}
	until = until.UTC()
	var held bool
	err := b.view(ctx, func(txn *tx) error {
		held = anyKey(txn, leaseAgentPrefix(agentID))
		return nil
	})
	if err != nil || !held {
		return nil, err
	}
	var out []store.Dataset
	err = b.update(ctx, func(txn *tx) error {
		out = out[:0]
		keys, vals, err := scanKeys(txn, leaseAgentPrefix(agentID), 0)
		if err != nil {
			return err
		}
		for i, k := range keys {
			d, err := getDataset(txn, string(vals[i]), lastSegment(k))
			if err != nil {
				return err
			}
			if !rules.HeldBy(d, agentID) {
				continue
			}
			old := d
			if rules.RenewLease(&d, agentID, until) {
				if err := putDataset(txn, &old, &d); err != nil {
					return err
				}
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

func (b *Badger) RevokeLease(ctx context.Context, agentID, companyID, datasetID string) error {
	if err := rules.LookupIDs("agent", agentID, "company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		d, err := getDataset(txn, companyID, datasetID)
		if err != nil {
			return err
		}
		if !rules.HeldBy(d, agentID) {
			return nil
		}
		old := d
		rules.RevokeLease(&d)
		return putDataset(txn, &old, &d)
	})
}

// leaseRef names a dataset found in the lease index.
type leaseRef struct{ company, id string }

func (b *Badger) ExpireLeases(ctx context.Context, now time.Time) ([]store.Dataset, error) {
	if now.IsZero() {
		return nil, errors.New("expire leases: time is zero")
	}
	now = now.UTC()
	end := key("lx", timeHex(now))
	// The leader expires leases every second, and a walk steps over the
	// deleted entry of every lease ended since Badger last compacted them
	// (every claim's), however few leases are held. A lease falls due by
	// time alone, and one enters the index (a claim, a renewal, an Import)
	// only by a commit that sets a key in it (tx.leased), which moves the
	// generation: a walk that found nothing due holds while the
	// generation has not moved and the time is before the first entry's.
	if next, ok := b.leases.get(); ok && (next == nil || string(next) > string(end)) {
		return nil, nil
	}
	gen := b.leases.generation()
	due, next, err := b.dueLeases(ctx, end)
	if err != nil {
		return nil, err
	}
	if len(due) == 0 {
		b.leases.keep(gen, next)
	}
	var moved []store.Dataset
	for _, ref := range due {
		var (
			d  store.Dataset
			ok bool
		)
		err := b.update(ctx, func(txn *tx) error {
			var err error
			d, ok, err = expireLease(txn, ref, now)
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

// dueLeases lists the in-flight datasets whose lease expired at or before
// end (the lease index's key of a time), each to be expired in its own
// transaction, and the first entry after them up to its time (nil: none).
func (b *Badger) dueLeases(ctx context.Context, end []byte) (due []leaseRef, next []byte, err error) {
	err = b.view(ctx, func(txn *tx) error {
		due, next = nil, nil
		p := prefix("lx")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			k := item.Key()
			if string(k[:len(end)]) > string(end) {
				next = bytes.Clone(k[:len(end)])
				break
			}
			co, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			due = append(due, leaseRef{company: string(co), id: lastSegment(k)})
		}
		return nil
	})
	return due, next, err
}

// expireLease expires the lease of one dataset if it is still in flight and
// its lease is still due; ok reports whether it did.
func expireLease(txn *tx, ref leaseRef, now time.Time) (d store.Dataset, ok bool, err error) {
	d, err = getDataset(txn, ref.company, ref.id)
	if errors.Is(err, store.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	conn, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil {
		return d, false, err
	}
	old := d
	if ok, err := rules.ExpireLease(&d, conn, now); err != nil || !ok {
		return d, false, err
	}
	return d, true, putDataset(txn, &old, &d)
}
