package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// maxPageNumber is the highest page number the 8-digit page keys hold.
const maxPageNumber = 99_999_999

// pageHeader is what a stored page holds beside its data.
type pageHeader struct {
	AgentID string `json:"agentId"`
	LeaseID string `json:"leaseId"`
	N       int    `json:"n"`
	Records int    `json:"records"`
	// Index is the length of the page's line index; 0 for a page stored
	// without one (or before pages had one).
	Index int `json:"index,omitempty"`
}

// encodePage is a page as stored: the length of its JSON header as a
// uvarint, the header, its line index, then the data as is (a page is up
// to 32 MiB of NDJSON; base64 in JSON would add a third). The index is
// store.EncodeLines'.
func encodePage(p store.Page) ([]byte, error) {
	index, err := store.EncodeLines(p)
	if err != nil {
		return nil, err
	}
	h, err := json.Marshal(pageHeader{AgentID: p.AgentID, LeaseID: p.LeaseID, N: p.N, Records: p.Records, Index: len(index)})
	if err != nil {
		return nil, err
	}
	v := make([]byte, 0, binary.MaxVarintLen64+len(h)+len(index)+len(p.Data))
	v = binary.AppendUvarint(v, uint64(len(h)))
	v = append(v, h...)
	v = append(v, index...)
	return append(v, p.Data...), nil
}

// decodePage reads a stored page of dataset ds and returns it with its
// line index (nil if it has none); both share v.
func decodePage(ds string, v []byte) (store.Page, []byte, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) {
		return store.Page{}, nil, fmt.Errorf("page of dataset %s: bad header", ds)
	}
	var h pageHeader
	if err := json.Unmarshal(v[w:w+int(n)], &h); err != nil {
		return store.Page{}, nil, fmt.Errorf("page of dataset %s: %w", ds, err)
	}
	rest := v[w+int(n):]
	if h.Index < 0 || h.Index > len(rest) {
		return store.Page{}, nil, fmt.Errorf("page of dataset %s: bad index", ds)
	}
	var index []byte
	if h.Index > 0 {
		index = rest[:h.Index:h.Index]
	}
	return store.Page{
		AgentID: h.AgentID, DatasetID: ds, LeaseID: h.LeaseID, N: h.N, Records: h.Records,
		Data: rest[h.Index:],
	}, index, nil
}

// uploading loads the dataset an agent uploads to: ErrNotFound unless its
// company is live and its connection is bound to the agent.
func uploading(txn *tx, agentID, datasetID string) (store.Dataset, error) {
	d, err := datasetByID(txn, datasetID)
	if err != nil {
		return d, err
	}
	// Reading the company makes a concurrent DeleteCompany conflict.
	if _, err := getCompany(txn, d.CompanyID); err != nil {
		return d, fmt.Errorf("dataset %s: %w", datasetID, store.ErrNotFound)
	}
	return d, agentsDataset(txn, d, agentID)
}

// agentsDataset is ErrNotFound unless d's connection is bound to the
// agent (rules.AgentsDataset).
func agentsDataset(txn *tx, d store.Dataset, agentID string) error {
	conn, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil {
		return err
	}
	return rules.AgentsDataset(d, conn, agentID)
}

func (b *Badger) AgentDataset(ctx context.Context, agentID, datasetID string) (store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	var d store.Dataset
	err := b.view(ctx, func(txn *tx) error {
		var err error
		d, err = uploading(txn, agentID, datasetID)
		return err
	})
	return d, err
}

func (b *Badger) PutPage(ctx context.Context, p store.Page) error {
	if err := rules.LookupIDs("agent", p.AgentID, "dataset", p.DatasetID); err != nil {
		return err
	}
	if p.N < 1 || p.N > maxPageNumber {
		return fmt.Errorf("page %d of dataset %s: number must be 1 to %d", p.N, p.DatasetID, maxPageNumber)
	}
	if p.Records < 0 {
		return fmt.Errorf("page %d of dataset %s: negative record count", p.N, p.DatasetID)
	}
	val, err := encodePage(p)
	if err != nil {
		return err
	}
	err = b.update(ctx, func(txn *tx) error {
		d, err := uploading(txn, p.AgentID, p.DatasetID)
		if err != nil {
			return err
		}
		// The lease is compared, never trusted: once equal to the claim's
		// lease it is a checked id, safe in a key.
		if err := rules.CanStage(d, p); err != nil {
			return err
		}
		k := pageKey(d.CompanyID, d.ID, p.LeaseID, p.N)
		if ok, err := exists(txn, k); err != nil || ok {
			return err // stored already: an upload sent again
		}
		return txn.Set(k, val)
	})
	if err == nil {
		b.prewrite(p, val[len(val)-len(p.Data):])
	}
	return err
}

// prewrite writes the records of page p, just staged, into its dataset's
// snapshot, so that the snapshot is written as the pages arrive and the
// validation that follows has only to check the records (writeSnapshot).
// It commits without waiting: the write shares its sync with the next
// page's, and the agent's upload does not wait for it; data is the page's
// data as staged (p.Data may be the caller's to reuse). It writes them
// only when pages 1 to p.N-1 of p's lease were written so: page 1 into an
// empty snapshot, each later page after the one before it (the mark
// prewrittenKey, in the same transaction, so a write that fails or is lost
// in a crash leaves the mark where it was). A page out of turn, without a
// line index, or too large for one transaction is not written, and the
// pages after it are not either: writeSnapshot then deletes what is there
// and writes the snapshot whole.
func (b *Badger) prewrite(p store.Page, data []byte) {
	if len(p.Lines) != p.Records || len(p.Lines) == 0 {
		return
	}
	txn := &tx{Txn: b.db.NewTransaction(true)}
	if ok, err := b.stagePrewrite(txn, p, data); err != nil || !ok {
		txn.Discard()
		return
	}
	b.txns.Add(1)
	txn.CommitWith(func(error) {})
}

// stagePrewrite sets in txn the records of page p and the mark, and
// reports whether it did (prewrite).
func (b *Badger) stagePrewrite(txn *tx, p store.Page, data []byte) (bool, error) {
	d, err := uploading(txn, p.AgentID, p.DatasetID)
	if err != nil {
		return false, err
	}
	if err := rules.CanStage(d, p); err != nil {
		return false, err
	}
	t := string(d.DataType)
	snap := snapshotPrefix(d.CompanyID, t, d.ID)
	// Badger's estimate of the transaction's size, with a quarter to
	// spare.
	size := 0
	for _, l := range p.Lines {
		size += len(snap) + 2*len(l.ID) + l.End - l.Start + 32
	}
	if size > int(b.db.MaxBatchSize())*3/4 || int64(len(p.Lines)+4) > b.db.MaxBatchCount() {
		return false, nil
	}
	mark := prewrittenKey(d.CompanyID, t, d.ID)
	v, err := getString(txn, mark)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		if p.N != 1 {
			return false, nil
		}
		if keys, _ := keysUnder(txn, snap, 1); len(keys) > 0 {
			return false, nil // records of an earlier lease, or of a write cut short
		}
	case err != nil:
		return false, err
	case v != prewritten(p.LeaseID, p.N-1):
		return false, nil
	}
	for _, l := range p.Lines {
		if err := txn.Set(snapshotKey(snap, []byte(l.ID)), data[l.Start:l.End:l.End]); err != nil {
			return false, err
		}
	}
	return true, txn.Set(mark, []byte(prewritten(p.LeaseID, p.N)))
}

// prewritten is the value of prewrittenKey once pages 1 to n of the lease
// are written into the snapshot.
func prewritten(lease string, n int) string { return fmt.Sprintf("%s/%08d", lease, n) }

// Pages reads the pages one at a time, without prefetching and without
// copying them out of Badger, so that a dataset of many large pages never
// sits in memory at once.
func (b *Badger) Pages(ctx context.Context, datasetID string, fn func(store.Page) error) error {
	if err := rules.LookupIDs("dataset", datasetID); err != nil {
		return err
	}
	return b.view(ctx, func(txn *tx) error {
		d, err := datasetByID(txn, datasetID)
		if err != nil {
			return err
		}
		return eachPage(ctx, txn, d, false, func(p store.Page, _ []byte) error { return fn(p) })
	})
}

// eachPage calls fn with each page of d staged under its live or
// committed lease, in page order, and its line index (nil if none). With
// keep, the page is a copy that fn may keep; without, it is Badger's own
// and valid only until fn returns.
func eachPage(ctx context.Context, txn *tx, d store.Dataset, keep bool, fn func(store.Page, []byte) error) error {
	lease := d.CommittedLease
	if rules.InFlight(d.Status) {
		lease = d.LeaseID
	}
	if lease == "" {
		return nil
	}
	p := leasePagesPrefix(d.CompanyID, d.ID, lease)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		each := func(v []byte) error {
			page, index, err := decodePage(d.ID, v)
			if err != nil {
				return err
			}
			return fn(page, index)
		}
		var err error
		if keep {
			var v []byte
			if v, err = it.Item().ValueCopy(nil); err == nil {
				err = each(v)
			}
		} else {
			err = it.Item().Value(each)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *Badger) CommitUpload(ctx context.Context, agentID, datasetID, leaseID string, now time.Time) (store.Dataset, error) {
	if err := rules.LookupIDs("agent", agentID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	if now.IsZero() {
		return store.Dataset{}, errors.New("commit upload: time is zero")
	}
	now = now.UTC()
	var out store.Dataset
	err := b.update(ctx, func(txn *tx) error {
		d, err := uploading(txn, agentID, datasetID)
		if err != nil {
			return err
		}
		out = d
		old := d
		if changed, err := rules.CommitUpload(&d, agentID, leaseID, now); err != nil || !changed {
			return err
		}
		out = d
		return putDataset(txn, &old, &d)
	})
	return out, err
}

func (b *Badger) Unprocessed(ctx context.Context) ([]store.Dataset, error) {
	var out []store.Dataset
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, prefix("up"), func(id string, co []byte) (store.Dataset, error) {
			if _, err := getCompany(txn, string(co)); errors.Is(err, store.ErrNotFound) {
				return store.Dataset{}, errSkip // being deleted
			}
			return getDataset(txn, string(co), id)
		})
		return err
	})
	return out, err
}

// dropEarlierPages deletes the pages of d staged under any lease but its
// own. They are out of sight already (pages are keyed by lease); this
// reclaims their space.
func (b *Badger) dropEarlierPages(ctx context.Context, d store.Dataset) {
	keep := leasePagesPrefix(d.CompanyID, d.ID, d.LeaseID)
	if err := b.deletePrefix(ctx, datasetPagesPrefix(d.CompanyID, d.ID), keep); err != nil && ctx.Err() == nil {
		b.log.Warn("pages of an earlier attempt left; the next claim or the end of the dataset deletes them",
			"dataset", d.ID, "company", d.CompanyID, "err", err)
	}
	if err := b.dropEarlierRecords(ctx, d); err != nil && ctx.Err() == nil {
		b.log.Warn("records an earlier attempt wrote into its snapshot left; its validation deletes them",
			"dataset", d.ID, "company", d.CompanyID, "err", err)
	}
}

// dropEarlierRecords deletes the records an earlier lease of d wrote into
// its snapshot (prewrite), then their mark, so that d's new lease may
// write its own.
func (b *Badger) dropEarlierRecords(ctx context.Context, d store.Dataset) error {
	t := string(d.DataType)
	mark := prewrittenKey(d.CompanyID, t, d.ID)
	earlier := func(txn *tx) (bool, error) {
		v, err := getString(txn, mark)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return false, nil
		}
		return err == nil && !strings.HasPrefix(v, d.LeaseID+"/"), err
	}
	var found bool
	err := b.view(ctx, func(txn *tx) (err error) { found, err = earlier(txn); return err })
	if err != nil || !found {
		return err
	}
	if err := b.deletePrefix(ctx, snapshotPrefix(d.CompanyID, t, d.ID), nil); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		if found, err := earlier(txn); err != nil || !found {
			return err
		}
		return txn.Delete(mark)
	})
}

// dropEndedPages deletes the staged pages of every dataset that ended
// since the last call (putDataset marks them), then the marks.
//
// Only one call sweeps at a time: publishes running at once would each
// scan the same marks and race to delete them; the one sweeping deletes
// what the others would have.
func (b *Badger) dropEndedPages(ctx context.Context) error {
	if !b.sweep.TryLock() {
		return nil
	}
	defer b.sweep.Unlock()
	var marks [][]byte
	err := b.view(ctx, func(txn *tx) error {
		var err error
		marks, _, err = scanKeys(txn, prefix("pd"), 0)
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range marks {
		// pd/<company>/<dataset> names pg/<company>/<dataset>/.
		pages := append(append([]byte("pg"), m[len("pd"):]...), '/')
		if err := b.deletePrefix(ctx, pages, nil); err != nil {
			return err
		}
		if err := b.update(ctx, func(txn *tx) error { return txn.Delete(m) }); err != nil {
			return err
		}
	}
	return nil
}
