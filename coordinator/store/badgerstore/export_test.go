package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// What the external tests of package store need from inside it.

// OpenUnsynced opens a store whose writes are not synced, for the
// setup of benchmarks only.
func OpenUnsynced(dir string, logger *slog.Logger) (*Badger, error) {
	return openBadger(dir, logger, false)
}

// Transactions is how many transactions the store has begun (views, runs
// of updates, write batches).
func (b *Badger) Transactions() int64 { return b.txns.Load() }

// Decodes is how many documents the store's transactions have decoded
// (getDoc): a company, a connection or a dataset, once a transaction.
func (b *Badger) Decodes() int64 { return b.decodes.Load() }

// SetDeleteChunk sets how many keys one DeleteCompany transaction removes.
func (b *Badger) SetDeleteChunk(n int) { b.deleteChunk = n }

// RawKeys returns every key of the database with its value.
func (b *Badger) RawKeys() (keys, vals [][]byte, err error) {
	err = b.view(context.Background(), func(txn *tx) error {
		keys, vals, err = scanKeys(txn, nil, 0)
		return err
	})
	return keys, vals, err
}

// StartDeleteCompany does what a DeleteCompany cut short by a crash has
// done: marked the company and removed some of its keys.
func (b *Badger) StartDeleteCompany(id string, keys int) error {
	return b.update(context.Background(), func(txn *tx) error {
		if err := markDeleting(txn, id); err != nil {
			return err
		}
		_, err := deleteCompanyChunk(txn, id, keys)
		return err
	})
}

// DeleteRaw deletes one key, whatever it is.
func (b *Badger) DeleteRaw(k string) error {
	return b.update(context.Background(), func(txn *tx) error { return txn.Delete([]byte(k)) })
}

// SetSortBytes sets the memory a snapshot's sort holds before it writes
// a sorted run; before any publish.
func (b *Badger) SetSortBytes(n int) { b.sortBytes = n }

// DeleteCachedRecord takes record id out of snapshot ds's chunks, as if
// it had never been written; an error if no chunk holds it.
func (b *Badger) DeleteCachedRecord(co, t, ds, id string) error {
	return b.update(context.Background(), func(txn *tx) error {
		p := chunksPrefix(snapshotPrefix(co, t, ds))
		var k, c []byte
		err := func() error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			defer it.Close()
			it.Seek(append(bytes.Clone(p), id...))
			if !it.ValidForPrefix(p) {
				return fmt.Errorf("no chunk holds %q", id)
			}
			k = it.Item().KeyCopy(nil)
			var err error
			c, err = it.Item().ValueCopy(nil)
			return err
		}()
		if err != nil {
			return err
		}
		var out, last []byte
		err = eachEntry(c, func(eid, v []byte) (bool, error) {
			if string(eid) != id {
				out, last = appendEntry(out, eid, v), eid
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if err := txn.Delete(k); err != nil || len(out) == 0 {
			return err
		}
		return txn.Set(append(bytes.Clone(p), last...), out)
	})
}

// WriteSnapshotCutShort does what a PublishCache cut short after
// writing its records has done: the records written, the snapshot not
// marked whole.
func (b *Badger) WriteSnapshotCutShort(ctx context.Context, companyID, datasetID string) error {
	d, _, _, err := b.publishable(ctx, companyID, datasetID)
	if err != nil {
		return err
	}
	return b.writeSnapshot(ctx, d, nil)
}

// ForgetCounts deletes the dataset counts, as in a store written before
// they were kept.
func (b *Badger) ForgetCounts() error {
	return b.update(context.Background(), func(txn *tx) error {
		for _, p := range [][]byte{prefix("nb"), prefix("nd")} {
			keys, _, err := scanKeys(txn, p, 0)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		return txn.Delete(key(countsMarker))
	})
}

// PutLegacyConnection writes a connection record as a store written before
// link codes were kept only as hashes did: with the readable code in it.
func (b *Badger) PutLegacyConnection(c store.Connection, plainCode string) error {
	rec, err := json.Marshal(struct {
		store.Connection
		LinkCode string `json:"linkCode,omitempty"`
	}{c, plainCode})
	if err != nil {
		return err
	}
	return b.update(context.Background(), func(txn *tx) error {
		if err := txn.Set(connIndexKey(c.ID), []byte(c.CompanyID)); err != nil {
			return err
		}
		return txn.Set(connKey(c.CompanyID, c.ID), rec)
	})
}

// RewriteReadableCodes does what a scrub cut short by a crash before its
// purge has done: rewritten the records, left the old versions.
func (b *Badger) RewriteReadableCodes(ctx context.Context) (int, error) {
	return b.rewriteReadableCodes(ctx)
}

// OpenWithoutScrub opens a store as Open does but without the
// link-code scrub, as a coordinator of before the scrub, or one that
// crashed in it, left it. It does not compact at close, which could drop
// the replaced versions a test looks for in the files, nor compress its
// tables, which could hide a code that repeats what is near it.
func OpenWithoutScrub(dir string) (*Badger, error) {
	logger := slog.New(slog.DiscardHandler)
	db, err := badger.Open(tuned(badger.DefaultOptions(dir)).WithCompactL0OnClose(false).WithCompression(options.None).WithLogger(badgerLogger{logger}))
	if err != nil {
		return nil, err
	}
	return newBadger(db, logger), nil
}

// DropWebhookRecord removes a consumer's record alone, as a DeleteWebhook
// cut short by a crash leaves it: its deliveries and log stay.
func (b *Badger) DropWebhookRecord(id string) error {
	return b.update(context.Background(), func(txn *tx) error { return txn.Delete(webhookKey(id)) })
}

// OpenRaw opens a bare Badger database in dir with the store's options
// (synced writes included), for the benchmarks' limits.
func OpenRaw(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(Options(dir))
	if err != nil {
		t.Fatalf("open raw badger: %v", err)
	}
	return db
}

// MaxOpenUpdates is the bound on the update transactions open at once.
const MaxOpenUpdates = maxOpenUpdates

// PeakUpdates is the most update transactions that were open at once.
func (b *Badger) PeakUpdates() int { return int(b.peakUpdates.Load()) }

// BegunUpdates is how many update transactions have begun.
func (b *Badger) BegunUpdates() int { return int(b.begunUpdates.Load()) }

// SetMaxOpenUpdates sets the bound on the update transactions open at
// once, before any is.
func (b *Badger) SetMaxOpenUpdates(n int) { b.updates = make(chan struct{}, n) }

// CopiedKeys is RawKeys as a copy holds them (Export, then Import): each
// chunk of cached records as a key a record (<snapshot prefix><id in
// hex>, chunk bounds depend on the values' sizes) and the references
// resolved to the records, and without the pages that current snapshots
// refer to, which a dump does not hold.
func (b *Badger) CopiedKeys() (keys, vals [][]byte, err error) {
	err = b.view(context.Background(), func(txn *tx) error {
		all, allVals, err := scanKeys(txn, nil, 0)
		if err != nil {
			return err
		}
		current := map[string]bool{} // <company>/<dataset>
		for i, k := range all {
			if f := strings.Split(string(k), "/"); f[0] == "cur" {
				current[f[1]+"/"+string(allVals[i])] = true
			}
		}
		owners := snapshotOwners(txn)
		for i, k := range all {
			switch f := strings.Split(string(k), "/"); {
			case f[0] == "pg" && current[f[1]+"/"+f[2]]:
			case f[0] == "rb":
				err := chunkRecords(txn, owners, k, allVals[i], func(o [3]string, id, v []byte) error {
					sv := snapshotValues{txn: txn, co: o[0], ds: o[2]}
					rec, err := sv.record(v)
					keys, vals = append(keys, fmt.Appendf(snapshotPrefix(o[0], o[1], o[2]), "%x", id)), append(vals, rec)
					return err
				})
				if err != nil {
					return err
				}
			default:
				keys, vals = append(keys, k), append(vals, allVals[i])
			}
		}
		return nil
	})
	return keys, vals, err
}

// chunkRecords calls fn with each record of chunk k (value v) and the
// company, type and dataset of its snapshot; an error for a chunk of no
// snapshot or of a sorted run.
func chunkRecords(txn *tx, owners map[string][3]string, k, v []byte, fn func(o [3]string, id, v []byte) error) error {
	snap, rest, _ := strings.Cut(strings.TrimPrefix(string(k), "rb/"), "/")
	o, ok := owners["rb/"+snap+"/"]
	switch {
	case !ok:
		return fmt.Errorf("chunk %q of no snapshot", k)
	case !strings.HasPrefix(rest, "c"):
		return fmt.Errorf("key %q of a sorted run left", k)
	}
	return eachEntry(v, func(id, v []byte) (bool, error) { return true, fn(o, id, v) })
}

// SnapshotEntries are the ids and stored values (references into pages,
// or JSON) of snapshot ds's records, read from its chunks, in order.
func (b *Badger) SnapshotEntries(co, t, ds string) (ids []string, vals [][]byte, err error) {
	err = b.view(context.Background(), func(txn *tx) error {
		return eachChunk(context.Background(), txn, chunksPrefix(snapshotPrefix(co, t, ds)), func(c []byte) error {
			return eachEntry(c, func(id, v []byte) (bool, error) {
				ids, vals = append(ids, string(id)), append(vals, v)
				return true, nil
			})
		})
	})
	return ids, vals, err
}

// SnapshotKeys lists the cached records and written marks of the
// company's snapshots of type t, named as the rc/ layout named them:
// <ds>/<id in hex> and <ds>, sorted; a chunk no snapshot's entry lists
// or of a sorted run, of any company, is ?/<its key>, and an entry with
// no record nor mark is "<ds> entry".
func (b *Badger) SnapshotKeys(co, t string) (out []string, err error) {
	err = b.view(context.Background(), func(txn *tx) error {
		owners := snapshotOwners(txn)
		for _, ds := range lastSegments(txn, prefix("rc", co, t)) {
			out = append(out, ds)
		}
		listed := map[string]bool{}
		keys, vals, err := scanKeys(txn, prefix("rb"), 0)
		if err != nil {
			return err
		}
		for i, k := range keys {
			err := chunkRecords(txn, owners, k, vals[i], func(o [3]string, id, _ []byte) error {
				if o[0] == co && o[1] == t {
					listed[o[2]] = true
					out = append(out, fmt.Sprintf("%s/%x", o[2], id))
				}
				return nil
			})
			if err != nil {
				out = append(out, "?/"+string(k))
			}
		}
		for _, e := range lastSegments(txn, prefix("sn", co, t)) {
			if !listed[e] && !slices.Contains(out, e) {
				out = append(out, e+" entry")
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// snapshotOwners are the company, type and dataset of each snapshot an
// entry lists, by the prefix of its chunks' keys.
func snapshotOwners(txn *tx) map[string][3]string {
	owners := map[string][3]string{}
	for _, e := range lastSegments(txn, prefix("sn")) {
		f := strings.Split(e, "/")
		owners[string(snapshotPrefix(f[0], f[1], f[2]))] = [3]string{f[0], f[1], f[2]}
	}
	return owners
}

// SnapshotPrefix is the prefix of the keys of snapshot ds's chunks.
func SnapshotPrefix(co, t, ds string) string { return string(snapshotPrefix(co, t, ds)) }

// OneKeyPrefix is the prefix under which a store written before chunks
// kept snapshot ds's records, a key a record.
func OneKeyPrefix(co, t, ds string) string { return string(oneKeyPrefix(co, t, ds)) }
