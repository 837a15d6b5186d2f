package badgerstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Support bundles (store/bundles.go), under:
//
//	sb/<agent>/<id>    store.SupportBundle
//	sbd/<agent>/<id>   the bundle's archive, once uploaded

func bundleKey(agentID, id string) []byte        { return key("sb", agentID, id) }
func bundleArchiveKey(agentID, id string) []byte { return key("sbd", agentID, id) }

func (b *Badger) RequestBundle(ctx context.Context, sb store.SupportBundle) error {
	if err := errors.Join(rules.CheckID("agent", sb.AgentID), rules.CheckID("bundle", sb.ID)); err != nil {
		return err
	}
	sb.Requested, sb.Uploaded, sb.Size = sb.Requested.UTC(), time.Time{}, 0
	return b.update(ctx, func(txn *tx) error {
		if _, err := txn.Get(agentKey(sb.AgentID)); err != nil {
			return notFound(err, "agent", sb.AgentID)
		}
		if _, err := txn.Get(bundleKey(sb.AgentID, sb.ID)); err == nil {
			return fmt.Errorf("bundle %s: %w", sb.ID, store.ErrExists)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		txn.change.RecordBundle(sb)
		return setJSON(txn, bundleKey(sb.AgentID, sb.ID), sb)
	})
}

func (b *Badger) PutBundle(ctx context.Context, agentID, id string, uploaded time.Time, archive []byte) error {
	if len(archive) > store.MaxBundleBytes {
		return fmt.Errorf("bundle archive: %d bytes, over %d", len(archive), store.MaxBundleBytes)
	}
	if rules.LookupIDs("agent", agentID, "bundle", id) != nil {
		return fmt.Errorf("bundle %q: %w", id, store.ErrNotFound)
	}
	return b.update(ctx, func(txn *tx) error {
		var sb store.SupportBundle
		if err := getJSON(txn, bundleKey(agentID, id), &sb); err != nil {
			return notFound(err, "bundle", id)
		}
		if !sb.Uploaded.IsZero() {
			return fmt.Errorf("bundle %s: archive %w", id, store.ErrExists)
		}
		sb.Uploaded, sb.Size = uploaded.UTC(), int64(len(archive))
		if err := txn.Set(bundleArchiveKey(agentID, id), archive); err != nil {
			return err
		}
		return setJSON(txn, bundleKey(agentID, id), sb)
	})
}

func (b *Badger) Bundles(ctx context.Context, agentID string) ([]store.SupportBundle, error) {
	if rules.LookupIDs("agent", agentID) != nil {
		return nil, nil
	}
	var out []store.SupportBundle
	err := b.view(ctx, func(txn *tx) error {
		out = nil
		_, vals, err := scanKeys(txn, prefix("sb", agentID), 0)
		if err != nil {
			return err
		}
		for _, v := range vals {
			var sb store.SupportBundle
			if err := json.Unmarshal(v, &sb); err != nil {
				return err
			}
			out = append(out, sb)
		}
		return nil
	})
	slices.SortFunc(out, func(x, y store.SupportBundle) int {
		return cmp.Or(y.Requested.Compare(x.Requested), cmp.Compare(x.ID, y.ID))
	})
	return out, err
}

func (b *Badger) BundleArchive(ctx context.Context, agentID, id string) (store.SupportBundle, []byte, error) {
	var sb store.SupportBundle
	var archive []byte
	if rules.LookupIDs("agent", agentID, "bundle", id) != nil {
		return sb, nil, fmt.Errorf("bundle %q: %w", id, store.ErrNotFound)
	}
	err := b.view(ctx, func(txn *tx) error {
		if err := getJSON(txn, bundleKey(agentID, id), &sb); err != nil {
			return notFound(err, "bundle", id)
		}
		item, err := txn.Get(bundleArchiveKey(agentID, id))
		if err != nil {
			return notFound(err, "archive of bundle", id)
		}
		archive, err = item.ValueCopy(nil)
		return err
	})
	return sb, archive, err
}

func (b *Badger) PruneBundles(ctx context.Context, before time.Time) (int, error) {
	var due []store.SupportBundle
	err := b.view(ctx, func(txn *tx) error {
		due = nil
		_, vals, err := scanKeys(txn, prefix("sb"), 0)
		for _, v := range vals {
			var sb store.SupportBundle
			if err := json.Unmarshal(v, &sb); err != nil {
				return err
			}
			if sb.Requested.Before(before) {
				due = append(due, sb)
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, sb := range due {
		err := b.update(ctx, func(txn *tx) error {
			return errors.Join(txn.Delete(bundleKey(sb.AgentID, sb.ID)), txn.Delete(bundleArchiveKey(sb.AgentID, sb.ID)))
		})
		if err != nil {
			return 0, fmt.Errorf("prune bundle %s: %w", sb.ID, err)
		}
	}
	return len(due), nil
}
