package badgerstore

import (
	"context"
	"encoding/json"
	"fmt"
)

// list decodes every value under p, in key order.
func list[T any](txn *tx, p []byte) ([]T, error) {
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
