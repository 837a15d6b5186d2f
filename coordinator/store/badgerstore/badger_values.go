package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// listValues decodes every value under p, in key order.
func listValues[T any](txn *tx, p []byte) ([]T, error) {
	keys, vals, err := scanKeys(txn, p, 0)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(vals))
	for i, v := range vals {
		if err := json.Unmarshal(v, &out[i]); err != nil {
			return nil, fmt.Errorf("decode %s: %w", keys[i], err)
		}
	}
	return out, nil
}

// listNewest decodes the values under p, last key first (keys that sort
// by time give the newest first), at most limit of them (0: all).
func listNewest[T any](txn *tx, p []byte, limit int) ([]T, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, Reverse: true})
	defer it.Close()
	out := []T{}
	// Reverse iteration starts at the last key under p.
	for it.Seek(append(slices.Clone(p), 0xff)); it.ValidForPrefix(p) && (limit == 0 || len(out) < limit); it.Next() {
		var v T
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// dueKeys returns, in due order, at most limit keys of the due-time index
// named index (keys index/<due>/...) that are due at now.
func dueKeys(txn *tx, index string, now time.Time, limit int) [][]byte {
	p := prefix(index)
	end := string(p) + timeHex(now) + "/\xff"
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	var keys [][]byte
	for it.Seek(p); it.ValidForPrefix(p) && len(keys) < limit; it.Next() {
		k := it.Item().KeyCopy(nil)
		if string(k) > end {
			break
		}
		keys = append(keys, k)
	}
	return keys
}

// modify is one read-modify-write, in one transaction: load reads the
// stored value, fn changes it, and save checks and writes the result
// knowing the value before. load runs twice, so that what fn changes
// shares no map or slice with that value. It returns the value written.
func modify[T any](b *Badger, ctx context.Context, load func(*tx) (T, error), fn func(*T) error, save func(txn *tx, old T, v *T) error) (T, error) {
	var out T
	err := b.update(ctx, func(txn *tx) error {
		old, err := load(txn)
		if err != nil {
			return err
		}
		v, err := load(txn)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		if err := save(txn, old, &v); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

// errSkip, returned by listIndex's get, leaves the entry out.
var errSkip = errors.New("skip the entry")

// listIndex loads, with get, the object each entry of the index under p
// names, in key order: get has the entry's last key segment (the object's
// id) and its value (a company id, say), and returns errSkip to leave the
// entry out.
func listIndex[T any](txn *tx, p []byte, get func(id string, val []byte) (T, error)) ([]T, error) {
	keys, vals, err := scanKeys(txn, p, 0)
	if err != nil {
		return nil, err
	}
	var out []T
	for i, k := range keys {
		v, err := get(lastSegment(k), vals[i])
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// skipMissing is v and err, but errSkip for store.ErrNotFound: an index
// entry of an object gone (or being deleted) is left out.
func skipMissing[T any](v T, err error) (T, error) {
	if errors.Is(err, store.ErrNotFound) {
		return v, errSkip
	}
	return v, err
}
