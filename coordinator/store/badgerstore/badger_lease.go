package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func checkClaim(c *store.ClaimRequest) error {
	if err := lookupIDs("dataset", c.DatasetID); err != nil {
		return err
	}
	if err := checkIDs("agent", c.AgentID, "lease", c.LeaseID); err != nil {
		return err
	}
	if c.Now.IsZero() || c.TTL <= 0 {
		return fmt.Errorf("claim %s: needs a time and a positive TTL", c.DatasetID)
	}
	c.Now = c.Now.UTC()
	return nil
}

func (b *Badger) Claim(ctx context.Context, c store.ClaimRequest) (store.Dataset, error) {
	if err := checkClaim(&c); err != nil {
		return store.Dataset{}, err
	}
	var (
		out     store.Dataset
		revoked bool // the connection was withdrawn: the dataset was ended
	)
	err := b.update(ctx, func(txn *tx) error {
		revoked = false
		d, conn, err := claimable(txn, c)
		if err != nil {
			return err
		}
		old := d
		if conn.Status == store.Linked {
			err = claim(&d, c)
		} else {
			revoked = true
			msg := "connection is " + string(conn.Status)
			err = advance(&d, dataset.Coordinator, dataset.AuthError, c.Now, store.ActorCoordinator, msg)
		}
		if err != nil {
			return err
		}
		out = d
		return putDataset(txn, &old, &d)
	})
	if err == nil && revoked {
		return out, fmt.Errorf("claim %s: %s: %w", c.DatasetID, out.ErrorMessage, store.ErrNotQueued)
	}
	if err == nil {
		b.dropEarlierPages(ctx, out)
	}
	return out, err
}

// claimable loads a dataset an agent claims and its connection: ErrNotFound
// unless the connection is bound to that agent, ErrNotQueued unless the
// dataset is Queued.
func claimable(txn *tx, c store.ClaimRequest) (store.Dataset, store.Connection, error) {
	d, err := datasetByID(txn, c.DatasetID)
	if err != nil {
		return d, store.Connection{}, err
	}
	var conn store.Connection
	err = getJSON(txn, connKey(d.CompanyID, d.ConnectionID), &conn)
	if err != nil || conn.AgentID != c.AgentID || conn.Status == store.PendingAuth {
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return d, conn, err
		}
		return d, conn, fmt.Errorf("dataset %s for agent %s: %w", d.ID, c.AgentID, store.ErrNotFound)
	}
	if d.Status != dataset.Queued {
		return d, conn, fmt.Errorf("claim %s (%s): %w", d.ID, d.Status, store.ErrNotQueued)
	}
	return d, conn, nil
}

func (b *Badger) Report(ctx context.Context, r store.Report) (store.Dataset, error) {
	if err := checkReport(r); err != nil {
		return store.Dataset{}, err
	}
	r.Now = r.Now.UTC()
	var out store.Dataset
	err := b.update(ctx, func(txn *tx) error {
		// Reading the company makes a concurrent DeleteCompany conflict.
		if _, err := getCompany(txn, r.CompanyID); err != nil {
			return err
		}
		d, err := getDataset(txn, r.CompanyID, r.DatasetID)
		if err != nil {
			return err
		}
		if r.LeaseID != "" {
			// An agent's report: on another agent's dataset it is the
			// answer to an id that does not exist, whatever the state.
			if err := agentsDataset(txn, d, r.Actor); err != nil {
				return err
			}
		}
		old := d
		changed, err := applyReport(&d, r)
		out = d
		if err != nil || !changed {
			return err
		}
		return putDataset(txn, &old, &d)
	})
	return out, err
}

func (b *Badger) RenewLeases(ctx context.Context, agentID string, until time.Time) ([]store.Dataset, error) {
	if err := lookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	if until.IsZero() {
		return nil, errors.New("renew leases: time is zero")
	}
	until = until.UTC()
	var out []store.Dataset
	err := b.update(ctx, func(txn *tx) error {
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
			if d.LeaseAgent != agentID || d.LeaseID == "" {
				continue
			}
			if until.After(d.LeaseExpires) {
				old := d
				d.LeaseExpires = until
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
	if err := lookupIDs("agent", agentID, "company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		d, err := getDataset(txn, companyID, datasetID)
		if err != nil {
			return err
		}
		if d.LeaseAgent != agentID || d.LeaseID == "" {
			return nil
		}
		old := d
		revokeLease(&d)
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
	due, err := b.dueLeases(ctx, now)
	if err != nil {
		return nil, err
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
// now, each to be expired in its own transaction.
func (b *Badger) dueLeases(ctx context.Context, now time.Time) ([]leaseRef, error) {
	var due []leaseRef
	err := b.view(ctx, func(txn *tx) error {
		p := prefix("lx")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		end := key("lx", timeHex(now))
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			k := item.Key()
			if string(k[:len(end)]) > string(end) {
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
	return due, err
}

// expireLease expires the lease of one dataset if it is still in flight and
// its lease is still due; ok reports whether it did.
func expireLease(txn *tx, ref leaseRef, now time.Time) (d store.Dataset, ok bool, err error) {
	d, err = getDataset(txn, ref.company, ref.id)
	if errors.Is(err, store.ErrNotFound) {
		return d, false, nil
	}
	if err != nil || !inFlight(d.Status) || d.LeaseExpires.After(now) {
		return d, false, err
	}
	old := d
	if err := expire(&d, now); err != nil {
		return d, false, err
	}
	if d.Status == dataset.Queued {
		var conn store.Connection
		err := getJSON(txn, connKey(d.CompanyID, d.ConnectionID), &conn)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return d, false, err
		}
		if err != nil || conn.Status != store.Linked {
			msg := "connection is no longer linked"
			if err := advance(&d, dataset.Coordinator, dataset.AuthError, now, store.ActorCoordinator, msg); err != nil {
				return d, false, err
			}
		}
	}
	return d, true, putDataset(txn, &old, &d)
}
