package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/release"
)

// Rollouts live under
//
//	ro/<version>   Rollout
//	roa            the version of the rollout last created: the one that
//	               may be active, read and written by every creation so
//	               that concurrent creations conflict
func rolloutKey(version string) []byte { return key("ro", version) }

var rolloutActiveKey = key("roa")

func getRollout(txn *tx, version string) (store.Rollout, error) {
	var r store.Rollout
	err := getJSON(txn, rolloutKey(version), &r)
	return r, notFound(err, "rollout", version)
}

func (b *Badger) CreateRollout(ctx context.Context, r store.Rollout) error {
	if err := rules.CheckRollout(r); err != nil {
		return err
	}
	r.Created = r.Created.UTC()
	return b.update(ctx, func(txn *tx) error {
		last, err := getString(txn, rolloutActiveKey)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if last != "" {
			cur, err := getRollout(txn, last)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err == nil && cur.Status.Active() {
				return fmt.Errorf("rollout of %s is %s: %w", last, cur.Status, store.ErrExists)
			}
		}
		if err := txn.Set(rolloutActiveKey, []byte(r.Version)); err != nil {
			return err
		}
		return setJSON(txn, rolloutKey(r.Version), r)
	})
}

func (b *Badger) Rollout(ctx context.Context, version string) (store.Rollout, error) {
	if err := release.CheckVersion(version); err != nil {
		return store.Rollout{}, fmt.Errorf("rollout %q: %w", version, store.ErrNotFound)
	}
	var r store.Rollout
	err := b.view(ctx, func(txn *tx) (err error) {
		r, err = getRollout(txn, version)
		return err
	})
	return r, err
}

func (b *Badger) Rollouts(ctx context.Context) ([]store.Rollout, error) {
	var out []store.Rollout
	err := b.view(ctx, func(txn *tx) (err error) {
		out, err = listValues[store.Rollout](txn, prefix("ro"))
		return err
	})
	slices.SortStableFunc(out, func(a, b store.Rollout) int { return a.Created.Compare(b.Created) })
	return out, err
}

func (b *Badger) UpdateRollout(ctx context.Context, version string, fn func(*store.Rollout) error) (store.Rollout, error) {
	if err := release.CheckVersion(version); err != nil {
		return store.Rollout{}, fmt.Errorf("rollout %q: %w", version, store.ErrNotFound)
	}
	load := func(txn *tx) (store.Rollout, error) { return getRollout(txn, version) }
	return modify(b, ctx, load, fn, func(txn *tx, old store.Rollout, r *store.Rollout) error {
		if r.Version != old.Version {
			return fmt.Errorf("update rollout %s: the version cannot change", version)
		}
		if err := rules.CheckRollout(*r); err != nil {
			return err
		}
		r.Created = r.Created.UTC()
		return setJSON(txn, rolloutKey(version), *r)
	})
}
