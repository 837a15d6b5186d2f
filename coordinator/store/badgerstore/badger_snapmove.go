package badgerstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The one-time moves of cached records: a store written before short
// snapshot keys keeps a snapshot's records under
// rc/<company>/<type>/<ds>/<id>, one written before chunks under
// oneKeyPrefix, a key a record. moveSnapshotKeys moves the first to the
// second, with the snapshot's entry (sn/) listing them; chunkSnapshots
// writes the second as chunks (badger_chunks.go).
const (
	// snapshotsMovedMarker is set once no record is left under rc/.
	snapshotsMovedMarker = "mg/snapshot-keys-moved"
	// chunkedMarker is set once no snapshot is left a key a record.
	chunkedMarker = "mg/snapshot-chunks"
	// moveChunk and moveChunkBytes bound one move transaction: records,
	// and bytes of keys and of values Badger keeps in its log (a value of
	// valueThreshold or more goes to the value log as a pointer).
	moveChunk      = 500
	moveChunkBytes = 512 << 10
)

// moveSnapshotKeys moves every record left under rc/ to its snapshot's
// oneKeyPrefix, a chunk a transaction (each record written at its new key
// and deleted at its old, with its snapshot's entry), then sets the
// marker. A move cut short goes on at the next open; readers see each
// record at one key or the other, never both, as the store opens before
// it serves.
func (b *Badger) moveSnapshotKeys(ctx context.Context) error {
	var done bool
	err := b.view(ctx, func(txn *tx) error {
		var err error
		done, err = exists(txn, key(snapshotsMovedMarker))
		return err
	})
	if err != nil || done {
		return err
	}
	moved := 0
	// Each scan starts after the last key the one before moved: from rc/
	// it would step over the deleted entry of every record moved so far
	// (150,000 records took 22.6 s so).
	p := prefix("rc")
	from := p
	for {
		var chunk []keyValue
		err := b.view(ctx, func(txn *tx) error {
			chunk = nil
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			defer it.Close()
			size := 0
			for it.Seek(from); it.ValidForPrefix(p) && len(chunk) < moveChunk && size < moveChunkBytes; it.Next() {
				item := it.Item()
				if bytes.Count(item.Key(), []byte("/")) != 4 {
					continue // rc/<company>/<type>/<ds>: a written mark, which stays
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				chunk = append(chunk, keyValue{k: item.KeyCopy(nil), v: v})
				size += 2*len(item.Key()) + min(len(v), valueThreshold)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			break
		}
		if moved == 0 {
			b.log.Info("moving cached records to their snapshots' short keys, once; the store serves when it is done")
		}
		err = b.update(ctx, func(txn *tx) error {
			entries := map[string]bool{}
			for _, kv := range chunk {
				f := strings.SplitN(string(kv.k), "/", 5) // rc, company, type, dataset, id in hex
				if e := snapshotEntryKey(f[1], f[2], f[3]); !entries[string(e)] {
					entries[string(e)] = true
					if err := txn.Set(e, nil); err != nil {
						return err
					}
				}
				if err := txn.Set(append(oneKeyPrefix(f[1], f[2], f[3]), f[4]...), kv.v); err != nil {
					return err
				}
				if err := txn.Delete(kv.k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		moved += len(chunk)
		from = append(chunk[len(chunk)-1].k, 0)
	}
	if moved > 0 {
		b.log.Info("cached records moved to their snapshots' short keys", "records", moved)
	}
	return b.update(ctx, func(txn *tx) error { return txn.Set(key(snapshotsMovedMarker), nil) })
}

// chunkSnapshots writes the records of every snapshot kept a key a record
// (oneKeyPrefix, in id order already) as its chunks, a snapshot at a
// time, deleting the records once its chunks are durable, then sets the
// marker. A snapshot cut short is written again at the next open, its
// chunks deleted first; readers wait, as the store opens before it serves.
func (b *Badger) chunkSnapshots(ctx context.Context) error {
	var (
		done  bool
		snaps [][3]string // company, type, dataset
	)
	err := b.view(ctx, func(txn *tx) error {
		var err error
		if done, err = exists(txn, key(chunkedMarker)); err != nil || done {
			return err
		}
		for _, e := range lastSegments(txn, prefix("sn")) {
			if f := strings.Split(e, "/"); len(f) == 3 && anyUnder(txn, oneKeyPrefix(f[0], f[1], f[2])) {
				snaps = append(snaps, [3]string{f[0], f[1], f[2]})
			}
		}
		return nil
	})
	if err != nil || done {
		return err
	}
	if len(snaps) > 0 {
		b.log.Info("writing cached records as chunks, once; the store serves when it is done", "snapshots", len(snaps))
	}
	records := 0
	for _, s := range snaps {
		n, err := b.chunkSnapshot(ctx, s[0], s[1], s[2])
		if err != nil {
			return fmt.Errorf("snapshot %s of %s %s: %w", s[2], s[0], s[1], err)
		}
		records += n
	}
	if len(snaps) > 0 {
		b.log.Info("cached records written as chunks", "snapshots", len(snaps), "records", records)
	}
	return b.update(ctx, func(txn *tx) error { return txn.Set(key(chunkedMarker), nil) })
}

// chunkSnapshot is chunkSnapshots' work on one snapshot; it returns how
// many records it moved.
func (b *Badger) chunkSnapshot(ctx context.Context, co, t, ds string) (int, error) {
	snap, old := snapshotPrefix(co, t, ds), oneKeyPrefix(co, t, ds)
	if err := b.deletePrefix(ctx, snap, nil); err != nil {
		return 0, err
	}
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	c := chunkBuilder{prefix: chunksPrefix(snap), emit: wb.Set}
	n := 0
	err := b.view(ctx, func(txn *tx) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: old})
		defer it.Close()
		for it.Seek(old); it.ValidForPrefix(old); it.Next() {
			item := it.Item()
			id, err := hex.DecodeString(string(item.Key()[len(old):]))
			if err != nil {
				return fmt.Errorf("cached record key %s: %w", item.Key(), err)
			}
			if err := item.Value(func(v []byte) error { return c.add(id, v) }); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil {
		err = c.flush()
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = b.deletePrefix(ctx, old, nil)
	}
	return n, err
}
