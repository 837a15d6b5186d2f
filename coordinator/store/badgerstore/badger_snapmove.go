package badgerstore

import (
	"bytes"
	"context"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The one-time move of cached records to their snapshot's short prefix.
// A store written before it keeps a snapshot's records under
// rc/<company>/<type>/<ds>/<id>; they now live under snapshotPrefix, with
// the snapshot's entry (sn/) listing them.
const (
	// snapshotsMovedMarker is set once no record is left under rc/.
	snapshotsMovedMarker = "mg/snapshot-keys-moved"
	// moveChunk and moveChunkBytes bound one move transaction: records,
	// and bytes of keys and of values Badger keeps in its log (a value of
	// valueThreshold or more goes to the value log as a pointer).
	moveChunk      = 500
	moveChunkBytes = 512 << 10
)

// moveSnapshotKeys moves every record left under rc/ to its snapshot's
// prefix, a chunk a transaction (each record written at its new key and
// deleted at its old, with its snapshot's entry), then sets the marker. A
// move cut short goes on at the next open; readers see each record at one
// key or the other, never both, as the store opens before it serves.
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
				if err := txn.Set(append(snapshotPrefix(f[1], f[2], f[3]), f[4]...), kv.v); err != nil {
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
