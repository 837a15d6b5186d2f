package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Keys of the one-time scrub of readable link codes. Stores written before
// codes were kept only as hashes hold connection records with a "linkCode"
// field: the scrub rewrites them without it, then purges the replaced
// versions from Badger's files.
const (
	// scrubbedMarker is set once no link code is in the store's files.
	scrubbedMarker = "mg/linkcode-scrubbed"
	// purgePending is set with the rewrites and cleared by the purge, so a
	// crash between the two still purges on the next open.
	purgePending = "mg/linkcode-purge"
	// purgeSentinel is written and dropped to make Badger flush its
	// memtables and compact level 0 (see purgeReplaced).
	purgeSentinel = "mg/purge-sentinel/"
	// scrubChunk is how many records one rewrite transaction holds.
	scrubChunk = 500
)

// scrubLinkCodes runs the scrub once per store: rewrites the connection
// records that hold a readable code and purges the old versions.
func (b *Badger) scrubLinkCodes(ctx context.Context) error {
	var done, pending bool
	err := b.db.View(func(t *badger.Txn) error {
		txn := &tx{Txn: t}
		var err error
		if done, err = exists(txn, key(scrubbedMarker)); err != nil || done {
			return err
		}
		pending, err = exists(txn, key(purgePending))
		return err
	})
	if err != nil || done {
		return err
	}
	n, err := b.rewriteReadableCodes(ctx)
	if err != nil {
		return err
	}
	if n > 0 || pending {
		// The records no longer hold a code: a purge that fails leaves old
		// versions on disk, not in any answer, so the store opens and the
		// purge runs again at the next open.
		if err := b.purgeReplaced(); err != nil {
			b.log.Error("purge of replaced link codes failed; it runs again at the next start", "err", err)
			return nil
		}
		b.log.Info("readable link codes removed from the store", "connections", n)
	}
	return b.update(ctx, func(txn *tx) error {
		if err := txn.Delete(key(purgePending)); err != nil {
			return err
		}
		return txn.Set(key(scrubbedMarker), nil)
	})
}

// rewriteReadableCodes rewrites, in chunks, every connection record that
// has a "linkCode" field, without it; it returns how many it rewrote.
func (b *Badger) rewriteReadableCodes(ctx context.Context) (int, error) {
	var found [][2][]byte // connection key, record without the code
	err := b.db.View(func(t *badger.Txn) error {
		txn := &tx{Txn: t}
		p := prefix("ci")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			co, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			k := connKey(string(co), lastSegment(it.Item().Key()))
			rec, ok, err := withoutReadableCode(txn, k)
			if err != nil {
				return err
			}
			if ok {
				found = append(found, [2][]byte{k, rec})
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scrub link codes: %w", err)
	}
	n := len(found)
	for len(found) > 0 {
		chunk := found[:min(scrubChunk, len(found))]
		found = found[len(chunk):]
		err := b.update(ctx, func(txn *tx) error {
			for _, kv := range chunk {
				if err := txn.Set(kv[0], kv[1]); err != nil {
					return err
				}
			}
			return txn.Set(key(purgePending), nil)
		})
		if err != nil {
			return 0, fmt.Errorf("scrub link codes: %w", err)
		}
	}
	return n, nil
}

// withoutReadableCode reads the record at k and, when it holds a readable
// link code, returns it encoded again without one (the field no longer
// exists in Connection).
func withoutReadableCode(txn *tx, k []byte) ([]byte, bool, error) {
	var old struct {
		LinkCode *string `json:"linkCode"`
	}
	if err := getJSON(txn, k, &old); err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if old.LinkCode == nil {
		return nil, false, nil
	}
	var c store.Connection
	if err := getJSON(txn, k, &c); err != nil {
		return nil, false, err
	}
	rec, err := json.Marshal(c)
	return rec, true, err
}

// purgeReplaced removes the replaced versions of keys from Badger's files.
// Badger keeps an old version until a compaction meets it with its newer
// one: dropping a sentinel key flushes the memtables (deleting their
// write-ahead logs) and compacts every level-0 table into the base level,
// and Flatten then merges every level into one, where the newest version
// of each key is the only one kept. Values this small live in the LSM
// tree, not the value log.
func (b *Badger) purgeReplaced() error {
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.Set(key(purgeSentinel+"x"), nil) }); err != nil {
		return fmt.Errorf("purge replaced versions: %w", err)
	}
	if err := b.db.DropPrefix([]byte(purgeSentinel)); err != nil {
		return fmt.Errorf("purge replaced versions: flush: %w", err)
	}
	if err := b.db.Flatten(1); err != nil {
		return fmt.Errorf("purge replaced versions: flatten: %w", err)
	}
	return nil
}

// secretKey holds a named secret of the coordinator.
func secretKey(name string) []byte { return key("sec", name) }

func (b *Badger) Secret(ctx context.Context, name string) ([]byte, error) {
	if err := rules.CheckID("secret", name); err != nil {
		return nil, err
	}
	var out []byte
	err := b.update(ctx, func(txn *tx) error {
		item, err := txn.Get(secretKey(name))
		if err == nil {
			out, err = item.ValueCopy(nil)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		out = make([]byte, 32)
		_, _ = rand.Read(out)
		return txn.Set(secretKey(name), out)
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return out, nil
}
