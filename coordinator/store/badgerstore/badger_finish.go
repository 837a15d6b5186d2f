package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// maxFinishPageKeys bounds the staged page keys (of every attempt) that
// FinishUpload deletes in its transaction; a dataset with more keeps its
// ended mark, and the next sweep deletes them.
const maxFinishPageKeys = 256

// FinishUpload reads the staged pages, writes the snapshot and swaps it
// in within one transaction: a small dataset's coordinator steps, its
// upload's commit included, cost one synced commit instead of one each.
func (b *Badger) FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error) {
	if err := rules.CheckFinish(&f); err != nil {
		return store.Dataset{}, err
	}
	var page []byte
	if f.Page != nil {
		var err error
		if page, err = encodePage(*f.Page); err != nil {
			return store.Dataset{}, err
		}
	}
	var out store.Dataset
	err := b.update(ctx, func(txn *tx) error {
		var err error
		out, err = finishUpload(ctx, txn, f, page)
		return err
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = fmt.Errorf("finish dataset %s: %w", f.DatasetID, store.ErrTooLarge)
	}
	if err != nil {
		return out, err
	}
	// What is left reclaims space, as after PublishCache: a snapshot
	// replaced that was too large to delete in the transaction, the pages
	// of datasets that ended elsewhere.
	if err := b.dropOrphanSnapshots(ctx, f.CompanyID, string(out.DataType)); err != nil && ctx.Err() == nil {
		b.log.Warn("old cached records left; the next publish deletes them", "company", f.CompanyID,
			"dataset", out.ID, "err", err)
	}
	if err := b.dropEndedPages(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("staged pages of ended datasets left; the next publish deletes them", "dataset", out.ID, "err", err)
	}
	return out, nil
}

// finishUpload is FinishUpload's transaction; page is f.Page encoded.
// Every read comes before the first write, as Badger wants no write while
// an iterator is open, but for the last page's: staged first, it is read
// with the others (a transaction's iterators see its own writes).
func finishUpload(ctx context.Context, txn *tx, f store.Finish, page []byte) (store.Dataset, error) {
	// Reading the company makes a concurrent DeleteCompany conflict.
	if _, err := getCompany(txn, f.CompanyID); err != nil {
		return store.Dataset{}, err
	}
	d, err := getDataset(txn, f.CompanyID, f.DatasetID)
	if err != nil {
		return d, err
	}
	if f.LeaseID != "" {
		if err := agentsDataset(txn, d, f.AgentID); err != nil {
			return store.Dataset{}, err
		}
	}
	steps, err := rules.Finish(d, f)
	if err != nil || len(steps) == 0 {
		return d, err
	}
	if f.Page != nil {
		k := pageKey(d.CompanyID, d.ID, f.LeaseID, f.Page.N)
		if ok, err := exists(txn, k); err != nil {
			return d, err
		} else if !ok {
			if err := txn.Set(k, page); err != nil {
				return d, err
			}
		}
	}
	t := string(d.DataType)
	var records []keyValue
	if f.Failure == "" {
		if records, err = snapshotRecords(ctx, txn, d); err != nil {
			return d, err
		}
	}
	replaced, err := replacedSnapshot(txn, d)
	if err != nil {
		return d, err
	}
	oldCur, err := currentSnapshot(txn, d.CompanyID, t)
	if err != nil {
		return d, err
	}
	pageKeys, allPages := keysUnder(txn, datasetPagesPrefix(d.CompanyID, d.ID), maxFinishPageKeys)
	// The snapshot replaced keeps its dataset's pages staged when its
	// records refer to them (a publish's); one written by this very
	// function deleted its pages with it, and a mark for it would cost
	// dropEndedPages a synced commit to delete for nothing.
	oldPages := false
	if oldCur != "" && oldCur != d.ID {
		oldPages = anyUnder(txn, datasetPagesPrefix(d.CompanyID, oldCur))
	}

	if err := setJSON(txn, validationKey(d.CompanyID, d.ID), f.Validation); err != nil {
		return d, err
	}
	prev := d
	for i := range steps {
		s := &steps[i]
		if s.Status == dataset.Complete {
			if len(records) > 0 {
				if err := txn.Set(snapshotEntryKey(d.CompanyID, t, d.ID), nil); err != nil {
					return d, err
				}
			}
			for _, r := range records {
				if err := txn.Set(r.k, r.v); err != nil {
					return d, err
				}
			}
			if err := txn.Set(cachePointerKey(d.CompanyID, t), []byte(d.ID)); err != nil {
				return d, err
			}
			if err := txn.Delete(snapshotWrittenKey(d.CompanyID, t, d.ID)); err != nil {
				return d, err
			}
			if err := deleteKeys(txn, replaced); err != nil {
				return d, err
			}
		}
		if err := putDataset(txn, &prev, s); err != nil {
			return d, err
		}
		if s.Status == dataset.Complete && oldPages {
			// The replaced snapshot's references leave its pages unused.
			if err := txn.Set(endedPagesKey(d.CompanyID, oldCur), nil); err != nil {
				return d, err
			}
		}
		prev = *s
	}
	if allPages {
		if err := deleteKeys(txn, append(pageKeys, endedPagesKey(d.CompanyID, d.ID))); err != nil {
			return d, err
		}
	}
	return prev, nil
}

// keyValue is one write of a transaction.
type keyValue struct{ k, v []byte }

// snapshotRecords are the writes of d's snapshot: the chunks of the
// records of its staged pages (of two lines with one id the later is
// kept). store.ErrTooLarge past MaxFinishRecords records or
// MaxFinishBytes bytes.
func snapshotRecords(ctx context.Context, txn *tx, d store.Dataset) ([]keyValue, error) {
	var (
		out            []keyValue
		bytes, records int
	)
	sorter := snapshotSorter{ctx: ctx, snap: snapshotPrefix(d.CompanyID, string(d.DataType), d.ID),
		write: func(k, v []byte) error { out = append(out, keyValue{k: k, v: v}); return nil }}
	tooLarge := fmt.Errorf("finish dataset %s: %w", d.ID, store.ErrTooLarge)
	// The sorter copies what it keeps: the pages' values need no copy.
	err := eachPage(ctx, txn, d, false, func(p store.Page, index []byte) error {
		if bytes += len(p.Data); bytes > store.MaxFinishBytes || records+p.Records > store.MaxFinishRecords {
			return tooLarge
		}
		add := func(id, rec []byte) error {
			if records == store.MaxFinishRecords {
				return tooLarge
			}
			records++
			return sorter.add(id, rec)
		}
		if index != nil {
			return store.EachIndexed(index, p.Data, add)
		}
		return eachRecord(p, func(id string, rec []byte) error { return add([]byte(id), rec) })
	})
	if err == nil {
		err = sorter.finish()
	}
	return out, err
}

// replacedSnapshot lists the keys of the snapshot d's replaces, its entry
// last, to delete with the swap; none when it holds more than
// MaxFinishRecords records (dropOrphanSnapshots deletes it after the
// commit).
func replacedSnapshot(txn *tx, d store.Dataset) ([][]byte, error) {
	t := string(d.DataType)
	cur, err := currentSnapshot(txn, d.CompanyID, t)
	if err != nil || cur == "" || cur == d.ID {
		return nil, err
	}
	keys, all := keysUnder(txn, snapshotPrefix(d.CompanyID, t, cur), store.MaxFinishRecords)
	if !all {
		return nil, nil
	}
	return append(keys, snapshotEntryKey(d.CompanyID, t, cur)), nil
}

// keysUnder returns the keys under p, without their values, and true; or
// the first limit of them and false when there are more.
func keysUnder(txn *tx, p []byte, limit int) ([][]byte, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	var keys [][]byte
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if len(keys) == limit {
			return keys, false
		}
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys, true
}

// anyUnder reports whether a key is under p.
func anyUnder(txn *tx, p []byte) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	it.Seek(p)
	return it.ValidForPrefix(p)
}

// deleteKeys deletes keys in txn.
func deleteKeys(txn *tx, keys [][]byte) error {
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
