package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"crypto/subtle"
	"fmt"
)

func (b *Badger) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if err := rules.CheckID("API key", k.ID); err != nil {
		return err
	}
	if err := rules.CheckHash("API key", k.Hash); err != nil {
		return err
	}
	if k.Scope != store.ScopeClient && k.Scope != store.ScopeSupport {
		return fmt.Errorf("API key %s: unknown scope %q", k.ID, k.Scope)
	}
	k.Created = k.Created.UTC()
	return b.update(ctx, func(txn *tx) error {
		if err := mustBeFree(txn, apiKeyKey(k.ID), "API key "+k.ID); err != nil {
			return err
		}
		if err := mustBeFree(txn, apiKeyHashKey(k.Hash), "hash of API key "+k.ID); err != nil {
			return err
		}
		if err := txn.Set(apiKeyHashKey(k.Hash), []byte(k.ID)); err != nil {
			return err
		}
		if err := txn.Set(apiKeyOrderKey(k), nil); err != nil {
			return err
		}
		return setJSON(txn, apiKeyKey(k.ID), k)
	})
}

func (b *Badger) APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	if err := rules.CheckHash("API key", hash); err != nil {
		return store.APIKey{}, err
	}
	var k store.APIKey
	err := b.view(ctx, func(txn *tx) error {
		id, err := getString(txn, apiKeyHashKey(hash))
		if err != nil {
			return notFound(err, "API key", "with that hash")
		}
		if err := getJSON(txn, apiKeyKey(id), &k); err != nil {
			return notFound(err, "API key", id)
		}
		if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
			return fmt.Errorf("API key %s: hash index out of date: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return store.APIKey{}, err
	}
	return k, nil
}

func (b *Badger) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	var out []store.APIKey
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, prefix("ko"), func(id string, _ []byte) (store.APIKey, error) {
			var k store.APIKey
			return k, notFound(getJSON(txn, apiKeyKey(id), &k), "API key", id)
		})
		return err
	})
	return out, err
}

func (b *Badger) DeleteAPIKey(ctx context.Context, id string) error {
	if err := rules.LookupIDs("API key", id); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		var k store.APIKey
		if err := getJSON(txn, apiKeyKey(id), &k); err != nil {
			return notFound(err, "API key", id)
		}
		for _, key := range [][]byte{apiKeyHashKey(k.Hash), apiKeyOrderKey(k), apiKeyKey(id)} {
			if err := txn.Delete(key); err != nil {
				return err
			}
		}
		return nil
	})
}
