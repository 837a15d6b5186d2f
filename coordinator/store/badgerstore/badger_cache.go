package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/ndjson"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// The cache of synced records. A snapshot is the records of one dataset,
// in chunks under snapshotPrefix, and the pointer cur/<company>/<type>
// names the current one. PublishCache writes a snapshot in write batches,
// out of every reader's sight, then in one small transaction points the
// pointer at it and completes the dataset; a reader reads the pointer and
// the records it names in one read transaction. So no snapshot, however
// large, is ever written in one transaction, and no reader sees a mix.
//
// A snapshot that is neither current nor being written (its dataset is not
// Processing) is an orphan: the one the pointer left, or one whose
// PublishCache was cut short (a crash, a failed swap). Every PublishCache
// deletes the orphans of its company and type once its own swap is done;
// one cut short by a crash while its dataset is still Processing is
// rewritten in full by the next PublishCache of that dataset.

func (b *Badger) PublishCache(ctx context.Context, companyID, datasetID string, now time.Time) (store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	if now.IsZero() {
		return store.Dataset{}, errors.New("publish cache: time is zero")
	}
	now = now.UTC()
	d, published, written, err := b.publishable(ctx, companyID, datasetID)
	if err != nil {
		return d, err
	}
	if !published {
		if d, err = b.publish(ctx, d, written, now); err != nil {
			return d, err
		}
	}
	// The dataset is Complete and its records current: what is left to do
	// reclaims space, and a later call does it if this one cannot.
	if err := b.dropOrphanSnapshots(ctx, companyID, string(d.DataType)); err != nil && ctx.Err() == nil {
		b.log.Warn("old cached records left; the next publish deletes them", "company", companyID,
			"dataset", d.ID, "err", err)
	}
	if err := b.dropEndedPages(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("staged pages of ended datasets left; the next publish deletes them", "dataset", d.ID, "err", err)
	}
	return d, nil
}

// publishable loads a dataset to publish; published reports that it is
// Complete and its records current already, written that its snapshot is
// written whole (WriteSnapshot).
func (b *Badger) publishable(ctx context.Context, companyID, id string) (d store.Dataset, published, written bool, err error) {
	err = b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		if d, err = getDataset(txn, companyID, id); err != nil {
			return err
		}
		cur, err := currentSnapshot(txn, companyID, string(d.DataType))
		if err != nil {
			return err
		}
		published = d.Status == dataset.Complete && cur == d.ID
		if !published && d.Status != dataset.Processing {
			return fmt.Errorf("publish dataset %s (%s): %w", id, d.Status, store.ErrTransition)
		}
		written, err = exists(txn, snapshotWrittenKey(companyID, string(d.DataType), id))
		return err
	})
	return d, published, written, err
}

// currentSnapshot is the id of the current snapshot of the type; "" if none.
func currentSnapshot(txn *tx, companyID, t string) (string, error) {
	id, err := getString(txn, cachePointerKey(companyID, t))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", nil
	}
	return id, err
}

// publish writes d's snapshot and swaps it in. A snapshot it fails to swap
// in is left to dropOrphanSnapshots, which also deletes it at once when the
// dataset is past Processing already (its company deleted, for one).
func (b *Badger) publish(ctx context.Context, d store.Dataset, written bool, now time.Time) (store.Dataset, error) {
	var err error
	if !written {
		err = b.writeSnapshot(ctx, d, nil)
	}
	if err == nil {
		var out store.Dataset
		if out, err = b.swapSnapshot(ctx, d, now); err == nil {
			return out, nil
		}
	}
	if derr := b.dropOrphanSnapshots(ctx, d.CompanyID, string(d.DataType)); derr != nil && ctx.Err() == nil {
		b.log.Warn("cached records of a failed publish left", "company", d.CompanyID, "dataset", d.ID, "err", derr)
	}
	return d, err
}

// writeSnapshot writes the records of d's staged pages as its snapshot's
// chunks, sorted (snapshotSorter), in write batches, and returns once they
// are durable, calling check (unless nil) with each record before it is
// added. A record of a page with a line index is kept as a reference into
// its page (appendRef), one without as its JSON. Writing a snapshot again
// writes it anew: what an earlier write cut short left goes first. The
// store's mapped files leave the process's resident memory at the start
// and after every releaseEvery bytes of pages (releaseFiles): the pages
// read and the tables written are not kept resident.
func (b *Badger) writeSnapshot(ctx context.Context, d store.Dataset, check func([]byte) error) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	dir := b.db.Opts().Dir
	defer releaseFiles(dir)
	releaseFiles(dir)
	read := 0
	snap := snapshotPrefix(d.CompanyID, string(d.DataType), d.ID)
	// The entry goes before the first chunk and again after the last: a
	// dropOrphanSnapshots that deleted it meanwhile (the dataset ended)
	// would otherwise leave chunks nothing lists.
	entry := func() error {
		return b.update(ctx, func(txn *tx) error {
			return txn.Set(snapshotEntryKey(d.CompanyID, string(d.DataType), d.ID), nil)
		})
	}
	if err := entry(); err != nil {
		return fmt.Errorf("publish dataset %s: %w", d.ID, err)
	}
	// An earlier write of this snapshot, cut short, may have left chunks
	// and runs bounded otherwise than this one's.
	if err := b.deletePrefix(ctx, snap, nil); err != nil {
		return fmt.Errorf("publish dataset %s: %w", d.ID, err)
	}
	sorter := snapshotSorter{ctx: ctx, b: b, snap: snap, write: wb.Set}
	var ref []byte
	err := b.view(ctx, func(txn *tx) error {
		// The pages are Badger's own, valid until fn returns: the sorter
		// copies what it keeps.
		return eachPage(ctx, txn, d, false, func(p store.Page, index []byte) error {
			if read += len(p.Data); read >= releaseEvery {
				releaseFiles(dir)
				read = 0
			}
			checked := func(rec []byte) error {
				if check == nil {
					return nil
				}
				return check(rec)
			}
			if index != nil {
				return store.EachLine(index, len(p.Data), func(id []byte, start, n int) error {
					if err := checked(p.Data[start : start+n : start+n]); err != nil {
						return err
					}
					ref = appendRef(ref[:0], p.N, start, n)
					return sorter.add(id, ref)
				})
			}
			return eachRecord(p, func(id string, rec []byte) error {
				if err := checked(rec); err != nil {
					return err
				}
				return sorter.add([]byte(id), rec)
			})
		})
	})
	if err == nil {
		err = sorter.finish()
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = entry()
	}
	if err != nil {
		return fmt.Errorf("publish dataset %s: %w", d.ID, err)
	}
	return nil
}

func (b *Badger) WriteSnapshot(ctx context.Context, companyID, datasetID string, check func(record []byte) error) error {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	var (
		d       store.Dataset
		written bool
	)
	err := b.view(ctx, func(txn *tx) error {
		var err error
		if d, err = writable(txn, companyID, datasetID); err != nil {
			return err
		}
		written, err = exists(txn, snapshotWrittenKey(companyID, string(d.DataType), d.ID))
		return err
	})
	if err != nil {
		return err
	}
	if written { // only the check is left to do
		return b.Pages(ctx, datasetID, func(p store.Page) error { return ndjson.Each(p.Data, check) })
	}
	if err := b.writeSnapshot(ctx, d, check); err != nil {
		return err
	}
	// The mark says the snapshot is whole; a dataset that ended meanwhile
	// leaves its snapshot an orphan, unmarked.
	return b.update(ctx, func(txn *tx) error {
		if _, err := writable(txn, companyID, datasetID); err != nil {
			return err
		}
		return txn.Set(snapshotWrittenKey(companyID, string(d.DataType), d.ID), nil)
	})
}

// writable loads a dataset whose snapshot may be written: Validating or
// Processing, its company live.
func writable(txn *tx, companyID, id string) (store.Dataset, error) {
	if _, err := getCompany(txn, companyID); err != nil {
		return store.Dataset{}, err
	}
	d, err := getDataset(txn, companyID, id)
	if err != nil {
		return d, err
	}
	if d.Status != dataset.Validating && d.Status != dataset.Processing {
		return d, fmt.Errorf("write the snapshot of dataset %s (%s): %w", id, d.Status, store.ErrTransition)
	}
	return d, nil
}

// releaseEvery is how many bytes of pages writeSnapshot reads, and PutPage
// stages, between two releases of the store's mapped files.
const releaseEvery = 16 << 20

// eachRecord calls fn with the id and JSON of each NDJSON line of p, a
// page stored without a line index; the JSON shares p.Data.
func eachRecord(p store.Page, fn func(id string, rec []byte) error) error {
	for line, rec := range ndjson.Lines(p.Data) {
		id, err := protocol.RecordID(rec)
		if err != nil {
			return fmt.Errorf("page %d line %d: %w", p.N, line, err)
		}
		if err := fn(id, rec); err != nil {
			return err
		}
	}
	return nil
}

// swapSnapshot makes d's snapshot current and d Complete, in one
// transaction.
func (b *Badger) swapSnapshot(ctx context.Context, d store.Dataset, now time.Time) (store.Dataset, error) {
	var out store.Dataset
	t := string(d.DataType)
	err := b.update(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, d.CompanyID); err != nil {
			return err
		}
		cur, err := getDataset(txn, d.CompanyID, d.ID)
		if err != nil {
			return err
		}
		out = cur
		ptr, err := currentSnapshot(txn, d.CompanyID, t)
		if err != nil {
			return err
		}
		if cur.Status == dataset.Complete && ptr == cur.ID {
			return nil // a concurrent call published it
		}
		old := cur
		if err := rules.End(&cur, dataset.Complete, now, ""); err != nil {
			return err
		}
		if err := txn.Set(cachePointerKey(d.CompanyID, t), []byte(cur.ID)); err != nil {
			return err
		}
		if err := txn.Delete(snapshotWrittenKey(d.CompanyID, t, d.ID)); err != nil {
			return err
		}
		out = cur
		if err := putDataset(txn, &old, &cur); err != nil {
			return err
		}
		return keepSnapshotPages(txn, d.CompanyID, ptr, cur.ID)
	})
	return out, err
}

// dropOrphanSnapshots deletes the snapshots of the type that are neither
// current nor of a Validating or Processing dataset (WriteSnapshot writes
// one while its dataset is Validating), with their written marks. Such a
// snapshot can never become current (only a Processing dataset's swap
// makes one current), so deleting it in batches, in sight of readers, is
// safe.
func (b *Badger) dropOrphanSnapshots(ctx context.Context, companyID, t string) error {
	var orphans []string
	err := b.view(ctx, func(txn *tx) error {
		cur, err := currentSnapshot(txn, companyID, t)
		if err != nil {
			return err
		}
		for _, id := range companySnapshots(txn, companyID, t) {
			if id == cur {
				continue
			}
			d, err := getDataset(txn, companyID, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err != nil || (d.Status != dataset.Processing && d.Status != dataset.Validating) {
				orphans = append(orphans, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range orphans {
		if err := b.deletePrefix(ctx, snapshotPrefix(companyID, t, id), nil); err != nil {
			return err
		}
		if err := b.update(ctx, func(txn *tx) error {
			return deleteKeys(txn, [][]byte{snapshotWrittenKey(companyID, t, id), snapshotEntryKey(companyID, t, id)})
		}); err != nil {
			return err
		}
	}
	return nil
}

// companySnapshots lists the company's snapshots of the type that may
// have records (an entry) or a written mark, in id order.
func companySnapshots(txn *tx, companyID, t string) []string {
	ids := append(lastSegments(txn, prefix("sn", companyID, t)), lastSegments(txn, prefix("rc", companyID, t))...)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// lastSegments lists what follows p in the keys under p.
func lastSegments(txn *tx, p []byte) []string {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	var ids []string
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		ids = append(ids, string(it.Item().Key()[len(p):]))
	}
	return ids
}

func (b *Badger) CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return err
	}
	return b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		cur, err := currentSnapshot(txn, companyID, dt)
		if err != nil || cur == "" {
			return err
		}
		return eachCachedRecord(ctx, txn, companyID, dt, cur, func(id, rec []byte) error { return fn(string(id), rec) })
	})
}

// maxCachedIDLen bounds the id CachedRecord looks up, so the key it
// seeks fits.
const maxCachedIDLen = 16 << 10

// cachedSnapshot is the current snapshot of (company, data type) that
// could hold a record with id: "" when there is none, or id cannot be a
// record's; ErrNotFound if the company is missing.
func cachedSnapshot(txn *tx, companyID, dt, id string) (string, error) {
	if _, err := getCompany(txn, companyID); err != nil {
		return "", err
	}
	cur, err := currentSnapshot(txn, companyID, dt)
	if err != nil || id == "" || len(id) > maxCachedIDLen {
		return "", err
	}
	return cur, nil
}

func (b *Badger) CachedRecord(ctx context.Context, companyID string, dt string, id string) ([]byte, error) {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return nil, err
	}
	var rec []byte
	err := b.view(ctx, func(txn *tx) error {
		cur, err := cachedSnapshot(txn, companyID, dt, id)
		if err != nil {
			return err
		}
		if cur == "" {
			return fmt.Errorf("%s record %q: %w", dt, id, store.ErrNotFound)
		}
		v, found, err := findEntry(txn, chunksPrefix(snapshotPrefix(companyID, dt, cur)), id)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s record %q: %w", dt, id, store.ErrNotFound)
		}
		vals := snapshotValues{txn: txn, co: companyID, ds: cur}
		rec, err = vals.record(v)
		return err
	})
	return rec, err
}

func (b *Badger) CachedRecordExists(ctx context.Context, companyID string, dt string, id string) (bool, error) {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return false, err
	}
	var found bool
	err := b.view(ctx, func(txn *tx) error {
		cur, err := cachedSnapshot(txn, companyID, dt, id)
		if err != nil || cur == "" {
			return err
		}
		// The entry alone: a record's value may be a reference into a
		// staged page, which existence does not need to resolve.
		_, found, err = findEntry(txn, chunksPrefix(snapshotPrefix(companyID, dt, cur)), id)
		return err
	})
	return found, err
}
