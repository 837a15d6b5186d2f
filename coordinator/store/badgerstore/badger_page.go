package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
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
	// Badger writes the page through its mapping of the value log, where
	// it stays resident until released: a big dataset's pages, 200 MiB of
	// the coordinator's RSS at 500,000 journal entries when its publish
	// began (BenchmarkPublishCache's window opens so, Badger reading the
	// value log whole when it opens).
	if b.staged.Add(int64(len(val))) >= releaseEvery {
		b.staged.Store(0)
		defer releaseFiles(b.db.Opts().Dir)
	}
	return b.update(ctx, func(txn *tx) error {
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
}

// Pages reads the pages one at a time, without prefetching and without
// copying them out of Badger, so that a dataset of many large pages never
// sits in memory at once.
func (b *Badger) Pages(ctx context.Context, datasetID string, fn func(store.Page) error) error {
	if err := rules.LookupIDs("dataset", datasetID); err != nil {
		return err
	}
	return b.view(ctx, func(txn *tx) error {
		d, err := datasetByID(txn, datasetID)
		if err != nil || d.Status == dataset.Complete {
			// A Complete dataset's pages, if still stored, are its
			// snapshot's records (badger_snapref.go), no longer staged.
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
	lease := stagedLease(d)
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
}

// dropEndedPages deletes the staged pages of up to
// store.EndedPagesPerSweep datasets that ended (putDataset marks them),
// then their marks. It looks only when a mark may have been set since a
// sweep last found none left (Badger.marks): it runs after every finish
// and publish, and its scan steps over the deleted entry of every mark
// swept since Badger last compacted them, however few are left, while
// most small datasets set none (a finish marks only a replaced
// snapshot's pages still staged). A mark is set only by a commit that
// sets a key under endedPagesPrefix and leaves it set (tx.marks) or by an
// Import, each of which moves the generation once it has committed.
//
// Only one call sweeps at a time: publishes running at once would each
// scan the same marks and race to delete them; the one sweeping deletes
// what the others would have.
func (b *Badger) dropEndedPages(ctx context.Context) error {
	gen := b.marks.generation()
	if _, none := b.marks.get(); none || !b.sweep.TryLock() {
		return nil
	}
	defer b.sweep.Unlock()
	var marks [][]byte
	err := b.view(ctx, func(txn *tx) error {
		var err error
		marks, _, err = scanKeys(txn, endedPagesPrefix, store.EndedPagesPerSweep)
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
	if len(marks) < store.EndedPagesPerSweep {
		b.marks.keep(gen, struct{}{})
	}
	return nil
}
