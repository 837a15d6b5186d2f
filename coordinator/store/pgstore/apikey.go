package pgstore

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) CreateAPIKey(ctx context.Context, k store.APIKey) error {
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
	doc, err := jsonDoc(k)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "INSERT INTO api_keys (id, hash, created, doc) VALUES ($1, $2, $3, $4)", k.ID, k.Hash, k.Created, doc)
		if isUnique(err) {
			return fmt.Errorf("API key %s or its hash: %w", k.ID, store.ErrExists)
		}
		return err
	})
}

func (p *PG) APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	if err := rules.CheckHash("API key", hash); err != nil {
		return store.APIKey{}, err
	}
	var k store.APIKey
	err := p.view(ctx, func(t *tx) (err error) {
		k, err = getDoc[store.APIKey](ctx, t, "SELECT doc FROM api_keys WHERE hash = $1", hash)
		return notFound(err, "API key", "with that hash")
	})
	return k, err
}

func (p *PG) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	var out []store.APIKey
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.APIKey](ctx, t, "SELECT doc FROM api_keys ORDER BY created, id")
		return err
	})
	return out, err
}

func (p *PG) DeleteAPIKey(ctx context.Context, id string) error {
	if err := rules.LookupIDs("API key", id); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, "DELETE FROM api_keys WHERE id = $1", id)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("API key %s: %w", id, store.ErrNotFound)
		}
		return err
	})
}

// Secret makes the named secret on the first call, in a transaction that
// concurrent first calls on any replica serialise with: each gets the one
// that committed.
func (p *PG) Secret(ctx context.Context, name string) ([]byte, error) {
	if err := rules.CheckID("secret", name); err != nil {
		return nil, err
	}
	var out []byte
	err := p.update(ctx, func(t *tx) error {
		err := t.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&out)
		if !errNoRows(err) {
			return err
		}
		out = make([]byte, 32)
		_, _ = rand.Read(out)
		_, err = t.Exec(ctx, "INSERT INTO secrets (name, value) VALUES ($1, $2)", name, out)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return out, nil
}
