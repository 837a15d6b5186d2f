package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
