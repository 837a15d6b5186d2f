package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// companyRecord is a company as stored. Deleting marks a company whose keys
// DeleteCompany is removing: it is gone for every reader, and nothing new
// can be created under it, even if the deletion was cut short by a crash.
type companyRecord struct {
	store.Company
	Deleting bool `json:"deleting,omitempty"`
}

func (b *Badger) CreateCompany(ctx context.Context, c store.Company) error {
	if err := rules.CheckID("company", c.ID); err != nil {
		return err
	}
	c.Created = c.Created.UTC()
	return b.update(ctx, func(txn *tx) error {
		if err := mustBeFree(txn, companyKey(c.ID), "company "+c.ID); err != nil {
			return err
		}
		return putCompany(txn, nil, c)
	})
}

// putCompany stores c, which was old before the change (nil for a new
// company), with its entry in the order of creation.
func putCompany(txn *tx, old *store.Company, c store.Company) error {
	if old != nil {
		if err := txn.Delete(companyOrderKey(*old)); err != nil {
			return err
		}
		if !store.SameWindow(old.SyncWindow, c.SyncWindow) {
			txn.change.SyncWindows = true
		}
	}
	if err := txn.Set(companyOrderKey(c), nil); err != nil {
		return err
	}
	return setJSON(txn, companyKey(c.ID), companyRecord{Company: c})
}

// getCompany returns a live company; ErrNotFound if missing or being deleted.
func getCompany(txn *tx, id string) (store.Company, error) {
	rec, err := getDoc(txn, companyKey(id), cloneCompany)
	if err != nil {
		return store.Company{}, notFound(err, "company", id)
	}
	if rec.Deleting {
		return store.Company{}, fmt.Errorf("company %s: %w", id, store.ErrNotFound)
	}
	return rec.Company, nil
}

func (b *Badger) Company(ctx context.Context, id string) (store.Company, error) {
	if err := rules.LookupIDs("company", id); err != nil {
		return store.Company{}, err
	}
	var c store.Company
	err := b.view(ctx, func(txn *tx) error {
		var err error
		c, err = getCompany(txn, id)
		return err
	})
	return c, err
}

func (b *Badger) Companies(ctx context.Context) ([]store.Company, error) {
	var out []store.Company
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, prefix("co"), func(id string, _ []byte) (store.Company, error) {
			return skipMissing(getCompany(txn, id))
		})
		return err
	})
	return out, err
}

func (b *Badger) UpdateCompany(ctx context.Context, id string, fn func(*store.Company) error) (store.Company, error) {
	if err := rules.LookupIDs("company", id); err != nil {
		return store.Company{}, err
	}
	load := func(txn *tx) (store.Company, error) { return getCompany(txn, id) }
	return modify(b, ctx, load, fn, func(txn *tx, old store.Company, c *store.Company) error {
		if err := rules.ChangeCompany(old, c); err != nil {
			return err
		}
		return putCompany(txn, &old, *c)
	})
}

// DeleteCompany marks the company as being deleted, then removes its keys
// and their index entries a chunk at a time, then its bulk data (pages and
// cached records) in write batches, and the company record last. A deletion
// cut short is finished by calling DeleteCompany again.
func (b *Badger) DeleteCompany(ctx context.Context, id string) error {
	if err := rules.LookupIDs("company", id); err != nil {
		return err
	}
	if err := b.update(ctx, func(txn *tx) error { return markDeleting(txn, id) }); err != nil {
		return err
	}
	for done := false; !done; {
		err := b.update(ctx, func(txn *tx) error {
			var err error
			done, err = deleteCompanyChunk(txn, id, b.deleteChunk)
			return err
		})
		if err != nil {
			return fmt.Errorf("delete company %s: %w", id, err)
		}
	}
	b.queued.moved() // its queued datasets went with no Change
	// With the datasets gone nothing writes pages or markers any more; a
	// PublishCache cut off by the deletion deletes what it wrote itself.
	// Each snapshot's records go before the entries that list them.
	var snapshots [][]byte
	err := b.view(ctx, func(txn *tx) error {
		for _, e := range lastSegments(txn, prefix("sn", id)) {
			if t, ds, ok := strings.Cut(e, "/"); ok {
				snapshots = append(snapshots, snapshotPrefix(id, t, ds))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete company %s: %w", id, err)
	}
	for _, p := range append(snapshots, companyDataPrefixes(id)...) {
		if err := b.deletePrefix(ctx, p, nil); err != nil {
			return fmt.Errorf("delete company %s: %w", id, err)
		}
	}
	if err := b.update(ctx, func(txn *tx) error { return deleteCompanyRecord(txn, id) }); err != nil {
		return fmt.Errorf("delete company %s: %w", id, err)
	}
	return nil
}

// markDeleting marks the company as being deleted: it is gone for every
// reader from now on. ErrNotFound if missing.
func markDeleting(txn *tx, id string) error {
	var rec companyRecord
	if err := getJSON(txn, companyKey(id), &rec); err != nil {
		return notFound(err, "company", id)
	}
	rec.Deleting = true
	return setJSON(txn, companyKey(id), rec)
}

// deleteCompanyRecord removes the company record, the last of its keys.
func deleteCompanyRecord(txn *tx, id string) error {
	var rec companyRecord
	err := getJSON(txn, companyKey(id), &rec)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil // a concurrent DeleteCompany finished first
	}
	if err != nil {
		return err
	}
	if err := txn.Delete(companyOrderKey(rec.Company)); err != nil {
		return err
	}
	return txn.Delete(companyKey(id))
}

// deleteCompanyChunk removes up to chunk keys of a company, all but its
// record; done reports that nothing else is left.
func deleteCompanyChunk(txn *tx, id string, chunk int) (done bool, err error) {
	p := companyPrefix(id)
	keys, vals, err := scanKeys(txn, p, chunk+1)
	if err != nil {
		return false, err
	}
	for i, k := range keys {
		rest := strings.TrimPrefix(string(k), string(p))
		if rest == "info" {
			continue
		}
		if err := deleteCompanyKey(txn, rest, vals[i]); err != nil {
			return false, err
		}
		if err := txn.Delete(k); err != nil {
			return false, err
		}
	}
	return len(keys) <= chunk, nil
}

// deleteCompanyKey removes the global index entries that go with the
// company's key rest (the part after c/<company>/) holding val.
func deleteCompanyKey(txn *tx, rest string, val []byte) error {
	parts := strings.Split(rest, "/")
	switch {
	case parts[0] == "conn" && len(parts) == 2:
		var c store.Connection
		if err := json.Unmarshal(val, &c); err != nil {
			return err
		}
		if c.AgentID != "" {
			if err := txn.Delete(agentConnKey(c.AgentID, c.ID)); err != nil {
				return err
			}
		}
		if err := deleteSchedule(txn, parts[1]); err != nil {
			return err
		}
		txn.change.RecordConnection(&c, nil)
		return txn.Delete(connIndexKey(parts[1]))
	case parts[0] == "code" && len(parts) == 3:
		return txn.Delete(key("lc", parts[2]))
	case parts[0] == "ds" && len(parts) == 2:
		var d store.Dataset
		if err := json.Unmarshal(val, &d); err != nil {
			return err
		}
		for k := range datasetIndexes(&d) {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return countChange(txn, d.Status, "")
	}
	return nil
}
