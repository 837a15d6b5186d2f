package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

var _ store.DumpStore = (*Badger)(nil)

// Export reads the whole store in one read transaction, so what it yields
// is one consistent view whatever writes meanwhile. Companies being
// deleted, with all they hold, are left out.
func (b *Badger) Export(ctx context.Context, fn func(store.Item) error) error {
	return b.view(ctx, func(txn *tx) error {
		e := &exporter{ctx: ctx, txn: txn, fn: fn}
		return e.all()
	})
}

// exporter is one Export: its read transaction and where its items go.
type exporter struct {
	ctx context.Context
	txn *tx
	fn  func(store.Item) error
}

// all yields every item, each after those it refers to.
func (e *exporter) all() error {
	err := e.each(prefix("sec"), func(k, v []byte) error {
		return e.fn(store.Secret{Name: lastSegment(k), Value: v})
	})
	if err != nil {
		return err
	}
	if err := exportOrdered[store.APIKey](e, prefix("ko"), apiKeyKey); err != nil {
		return err
	}
	if err := exportOrdered[store.Agent](e, prefix("ago"), agentKey); err != nil {
		return err
	}
	var set []store.SyncSetting
	err = getJSON(e.txn, profileSettingsKey(), &set)
	if err == nil {
		err = e.fn(store.ProfileSettings{Settings: set})
	}
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	var w store.SyncWindow
	err = getJSON(e.txn, profileWindowKey(), &w)
	if err == nil {
		err = e.fn(store.ProfileWindow{Window: w})
	}
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	var prof store.Profile
	err = getJSON(e.txn, profileKey(), &prof)
	if err == nil {
		err = e.fn(prof)
	}
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	webhooks := map[string]bool{}
	err = e.each(prefix("wh"), func(k, v []byte) error {
		webhooks[lastSegment(k)] = true
		return decodeItem[store.Webhook](k, v, e.fn)
	})
	if err != nil {
		return err
	}
	if err := e.each(prefix("co"), func(k, _ []byte) error { return e.company(lastSegment(k)) }); err != nil {
		return err
	}
	if err := exportOfWebhooks[store.Delivery](e, prefix("wd"), webhooks); err != nil {
		return err
	}
	if err := exportOfWebhooks[store.DeliveryAttempt](e, prefix("wl"), webhooks); err != nil {
		return err
	}
	return exportJSON[store.AgentEvent](e, prefix("ev"))
}

// each calls f with the key and a copy of the value of every key under p,
// in key order; the key is valid only until f returns.
func (e *exporter) each(p []byte, f func(k, v []byte) error) error {
	it := e.txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	n := 0
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if n++; n%1024 == 0 {
			if err := e.ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := f(it.Item().Key(), v); err != nil {
			return err
		}
	}
	return nil
}

// exportJSON yields the values under p, decoded as T.
func exportJSON[T store.Item](e *exporter, p []byte) error {
	return e.each(p, func(k, v []byte) error { return decodeItem[T](k, v, e.fn) })
}

// exportOfWebhooks yields the values under p (keys p<webhook>/...) of
// the consumers in webhooks, decoded as T. Those of a consumer whose
// deletion a crash cut short are left out: nothing reads them.
func exportOfWebhooks[T store.Item](e *exporter, p []byte, webhooks map[string]bool) error {
	return e.each(p, func(k, v []byte) error {
		if !webhooks[splitKey(k)[1]] {
			return nil
		}
		return decodeItem[T](k, v, e.fn)
	})
}

// decodeItem yields v, the value at k, decoded as T.
func decodeItem[T store.Item](k, v []byte, fn func(store.Item) error) error {
	var x T
	if err := json.Unmarshal(v, &x); err != nil {
		return fmt.Errorf("decode %s: %w", k, err)
	}
	return fn(x)
}

// exportOrdered yields, decoded as T, the object at key(id) of each entry
// of the creation-order index under p.
func exportOrdered[T store.Item](e *exporter, p []byte, key func(string) []byte) error {
	return e.each(p, func(k, _ []byte) error {
		var x T
		if err := getJSON(e.txn, key(lastSegment(k)), &x); err != nil {
			return fmt.Errorf("%s of index entry %s: %w", x.Kind(), k, err)
		}
		return e.fn(x)
	})
}

// company yields a live company and everything it holds.
func (e *exporter) company(id string) error {
	var rec companyRecord
	if err := getJSON(e.txn, companyKey(id), &rec); err != nil {
		return fmt.Errorf("company %s: %w", id, err)
	}
	if rec.Deleting {
		return nil
	}
	if err := e.fn(rec.Company); err != nil {
		return err
	}
	cs, ok, err := companySettings(e.txn, id)
	if ok {
		err = e.fn(cs)
	}
	if err != nil {
		return err
	}
	err = e.each(prefix("c", id, "conn"), func(k, v []byte) error {
		var c store.Connection
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		return e.connection(c)
	})
	if err != nil {
		return err
	}
	var unprocessed []store.Dataset
	err = e.each(prefix("c", id, "ds"), func(k, v []byte) error {
		var d store.Dataset
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		if d.Status == dataset.Validating || d.Status == dataset.Processing {
			unprocessed = append(unprocessed, d)
		}
		return e.dataset(d)
	})
	if err != nil {
		return err
	}
	if err := e.each(prefix("cur", id), func(k, v []byte) error { return e.snapshot(id, lastSegment(k), string(v)) }); err != nil {
		return err
	}
	for _, d := range unprocessed {
		err := eachPage(e.ctx, e.txn, d, true, func(p store.Page, _ []byte) error { return e.fn(p) })
		if err != nil {
			return fmt.Errorf("pages of dataset %s: %w", d.ID, err)
		}
	}
	return nil
}

// connection yields a connection, its link codes and its schedule.
func (e *exporter) connection(c store.Connection) error {
	if err := e.fn(c); err != nil {
		return err
	}
	err := e.each(prefix("c", c.CompanyID, "code", c.ID), func(k, _ []byte) error {
		var code store.LinkCode
		if err := getJSON(e.txn, key("lc", lastSegment(k)), &code); err != nil {
			return fmt.Errorf("link code of connection %s: %w", c.ID, err)
		}
		return e.fn(code)
	})
	if err != nil {
		return err
	}
	return exportJSON[store.ScheduledSync](e, schedPointerPrefix(c.ID))
}

// dataset yields a dataset and its validation result.
func (e *exporter) dataset(d store.Dataset) error {
	if err := e.fn(d); err != nil {
		return err
	}
	var v store.ValidationResult
	err := getJSON(e.txn, validationKey(d.CompanyID, d.ID), &v)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return e.fn(store.Validation{CompanyID: d.CompanyID, DatasetID: d.ID, Result: v})
}

// snapshot yields the records of the current snapshot ds of the type.
func (e *exporter) snapshot(co, t, ds string) error {
	return eachCachedRecord(e.ctx, e.txn, co, t, ds, func(id, rec []byte) error {
		return e.fn(store.CachedRecord{CompanyID: co, DataType: dataset.DataType(t), DatasetID: ds, ID: string(id), Data: rec})
	})
}

// Import writes the items in write batches that commit as they fill, not
// in one transaction: an import that fails leaves a partial store, to be
// deleted before another try. It builds every index as the store's own
// writes would, and the dataset counts. It trusts the ids in the items,
// which a store checked when it stored them: a dump comes from Export.
func (b *Badger) Import(ctx context.Context, items func(yield func(store.Item) error) error) error {
	im := &importer{
		ctx:         ctx,
		b:           b,
		wb:          b.db.NewWriteBatch(),
		companies:   map[string]bool{},
		pointers:    map[string]statusPointer{},
		snapshots:   map[string]string{},
		entries:     map[string]bool{},
		unprocessed: map[string]string{},
		counts:      map[dataset.Status]int{},
	}
	defer im.wb.Cancel()
	err := items(func(it store.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return im.put(it)
	})
	if err == nil {
		err = im.finish()
	}
	if err == nil {
		err = im.wb.Flush()
	}
	b.queued.moved() // the queued index, as far as it got
	b.leases.moved() // and the lease index
	b.marks.moved()  // and the ended-pages marks
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// importer is one Import: its write batch and what it keeps to write at
// the end or to check the items that follow.
type importer struct {
	ctx context.Context
	b   *Badger
	wb  *badger.WriteBatch
	// companies are the ids of the companies imported.
	companies map[string]bool
	// pointers are the DataStatus pointers, by key.
	pointers map[string]statusPointer
	// snapshots are the current snapshots, dataset id by pointer key;
	// entries their entries (sn/) written.
	snapshots map[string]string
	entries   map[string]bool
	// sorter sorts the records of the snapshot being imported (a dump
	// holds each snapshot's records together) into its chunks.
	sorter *snapshotSorter
	// unprocessed are the companies of the datasets in Validating or
	// Processing, whose pages may follow, by dataset id.
	unprocessed map[string]string
	counts      map[dataset.Status]int
}

func (im *importer) set(k, v []byte) error { return im.wb.Set(k, v) }

func (im *importer) json(k []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return im.wb.Set(k, val)
}

// company checks that the item's company came before it.
func (im *importer) company(kind store.Kind, id string) error {
	if !im.companies[id] {
		return fmt.Errorf("%s of company %s, which is not in the dump before them", kind, id)
	}
	return nil
}

func (im *importer) put(it store.Item) error {
	switch v := it.(type) {
	case store.Secret:
		return im.set(secretKey(v.Name), v.Value)
	case store.APIKey:
		return im.apiKey(v)
	case store.Agent:
		return im.agent(v)
	case store.ProfileSettings:
		return im.json(profileSettingsKey(), v.Settings)
	case store.ProfileWindow:
		return im.json(profileWindowKey(), v.Window)
	case store.Profile:
		return im.json(profileKey(), v)
	case store.Webhook:
		return im.json(webhookKey(v.ID), v)
	case store.Company:
		im.companies[v.ID] = true
		return errors.Join(im.set(companyOrderKey(v), nil), im.json(companyKey(v.ID), companyRecord{Company: v}))
	case store.CompanySyncSettings:
		return errors.Join(im.company(v.Kind(), v.CompanyID), im.json(companySettingsKey(v.CompanyID), v))
	case store.Connection:
		return im.connection(v)
	case store.LinkCode:
		return errors.Join(im.company(v.Kind(), v.CompanyID), im.json(linkCodeKey(v.Hash), v),
			im.set(linkCodeRefKey(v.CompanyID, v.ConnectionID, v.Hash), nil))
	case store.ScheduledSync:
		return im.schedule(v)
	case store.Dataset:
		return im.dataset(v)
	case store.Validation:
		return errors.Join(im.company(v.Kind(), v.CompanyID), im.json(validationKey(v.CompanyID, v.DatasetID), v.Result))
	case store.CachedRecord:
		if err := im.company(v.Kind(), v.CompanyID); err != nil {
			return err
		}
		im.snapshots[string(cachePointerKey(v.CompanyID, string(v.DataType)))] = v.DatasetID
		snap := snapshotPrefix(v.CompanyID, string(v.DataType), v.DatasetID)
		switch entry := snapshotEntryKey(v.CompanyID, string(v.DataType), v.DatasetID); {
		case !im.entries[string(entry)]:
			if err := im.endSnapshot(); err != nil {
				return err
			}
			im.entries[string(entry)] = true
			if err := im.set(entry, nil); err != nil {
				return err
			}
			im.sorter = &snapshotSorter{ctx: im.ctx, b: im.b, snap: snap, write: im.set}
		case im.sorter == nil || !bytes.Equal(im.sorter.snap, snap):
			return fmt.Errorf("cached records of dataset %s apart from its others in the dump", v.DatasetID)
		}
		return im.sorter.add([]byte(v.ID), v.Data)
	case store.Page:
		return im.page(v)
	case store.Delivery:
		return errors.Join(im.json(deliveryKey(v.WebhookID, v.Event.ID), v), im.set(deliveryDueKey(v.Due, v.WebhookID, v.Event.ID), nil))
	case store.DeliveryAttempt:
		return im.json(deliveryLogKey(v), v)
	case store.AgentEvent:
		return errors.Join(im.json(agentEventKey(v), v), im.set(agentEventTimeKey(v), nil))
	}
	return fmt.Errorf("a dump item of type %T, unknown to the store", it)
}

func (im *importer) apiKey(k store.APIKey) error {
	return errors.Join(im.json(apiKeyKey(k.ID), k), im.set(apiKeyHashKey(k.Hash), []byte(k.ID)), im.set(apiKeyOrderKey(k), nil))
}

func (im *importer) agent(a store.Agent) error {
	return errors.Join(im.json(agentKey(a.ID), a), im.set(agentHashKey(a.CredentialHash), []byte(a.ID)), im.set(agentOrderKey(a), nil))
}

func (im *importer) connection(c store.Connection) error {
	if err := im.company(c.Kind(), c.CompanyID); err != nil {
		return err
	}
	if c.AgentID != "" {
		if err := im.set(agentConnKey(c.AgentID, c.ID), []byte(c.CompanyID)); err != nil {
			return err
		}
	}
	return errors.Join(im.set(connIndexKey(c.ID), []byte(c.CompanyID)), im.json(connKey(c.CompanyID, c.ID), c))
}

func (im *importer) schedule(s store.ScheduledSync) error {
	if err := im.company(s.Kind(), s.CompanyID); err != nil {
		return err
	}
	if !s.Due.IsZero() {
		if err := im.set(schedKey(s.Due, s.ConnectionID, s.DataType), []byte(s.CompanyID)); err != nil {
			return err
		}
	}
	return im.json(schedPointerKey(s.ConnectionID, s.DataType), s)
}

// dataset writes a dataset with its index entries, and notes it in the
// DataStatus pointers and the counts.
func (im *importer) dataset(d store.Dataset) error {
	if err := im.company(d.Kind(), d.CompanyID); err != nil {
		return err
	}
	for k, v := range datasetIndexes(&d) {
		if err := im.set([]byte(k), v); err != nil {
			return err
		}
	}
	im.raise(&d, "latest")
	if d.Status == dataset.Complete {
		im.raise(&d, "complete")
	}
	im.counts[d.Status]++
	if d.Status == dataset.Validating || d.Status == dataset.Processing {
		im.unprocessed[d.ID] = d.CompanyID
	}
	return im.json(datasetKey(d.CompanyID, d.ID), d)
}

// raise points the type's pointer which at d if d is newer.
func (im *importer) raise(d *store.Dataset, which string) {
	k := string(statusKey(d.CompanyID, d.DataType, which))
	if p, ok := im.pointers[k]; ok && !p.newer(d) {
		return
	}
	im.pointers[k] = statusPointer{ID: d.ID, Requested: d.Requested}
}

func (im *importer) page(p store.Page) error {
	co, ok := im.unprocessed[p.DatasetID]
	if !ok {
		return fmt.Errorf("page %d of dataset %s, which is not in the dump before it in Validating or Processing", p.N, p.DatasetID)
	}
	if p.N < 1 || p.N > maxPageNumber {
		return fmt.Errorf("page %d of dataset %s: number must be 1 to %d", p.N, p.DatasetID, maxPageNumber)
	}
	val, err := encodePage(p)
	if err != nil {
		return err
	}
	return im.set(pageKey(co, p.DatasetID, p.LeaseID, p.N), val)
}

// endSnapshot writes the chunks of the snapshot being imported, if any.
func (im *importer) endSnapshot() error {
	if im.sorter == nil {
		return nil
	}
	err := im.sorter.finish()
	im.sorter = nil
	return err
}

// finish writes what the importer gathered: the chunks of the last
// snapshot, the DataStatus pointers, the current snapshots and the
// dataset counts (which replace those the empty store began with).
func (im *importer) finish() error {
	if err := im.endSnapshot(); err != nil {
		return err
	}
	for k, p := range im.pointers {
		if err := im.json([]byte(k), p); err != nil {
			return err
		}
	}
	for k, ds := range im.snapshots {
		if err := im.set([]byte(k), []byte(ds)); err != nil {
			return err
		}
	}
	for _, s := range dataset.Statuses {
		if err := im.set(countBaseKey(s), []byte(strconv.Itoa(im.counts[s]))); err != nil {
			return err
		}
	}
	return nil
}
