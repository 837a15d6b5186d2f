package pgstore

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) CreateCompany(ctx context.Context, c store.Company) error {
	if err := rules.CheckID("company", c.ID); err != nil {
		return err
	}
	c.Created = c.Created.UTC()
	doc, err := jsonDoc(c)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "INSERT INTO companies (id, created, doc) VALUES ($1, $2, $3)", c.ID, c.Created, doc)
		if isUnique(err) {
			return fmt.Errorf("company %s: %w", c.ID, store.ErrExists)
		}
		return err
	})
}

// getCompany returns a company; ErrNotFound if missing.
func getCompany(ctx context.Context, t *tx, id string) (store.Company, error) {
	c, err := getDoc[store.Company](ctx, t, "SELECT doc FROM companies WHERE id = $1", id)
	return c, notFound(err, "company", id)
}

func (p *PG) Company(ctx context.Context, id string) (store.Company, error) {
	if err := rules.LookupIDs("company", id); err != nil {
		return store.Company{}, err
	}
	var c store.Company
	err := p.view(ctx, func(t *tx) (err error) {
		c, err = getCompany(ctx, t, id)
		return err
	})
	return c, err
}

func (p *PG) Companies(ctx context.Context) ([]store.Company, error) {
	var out []store.Company
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Company](ctx, t, "SELECT doc FROM companies ORDER BY created, id")
		return err
	})
	return out, err
}

func (p *PG) UpdateCompany(ctx context.Context, id string, fn func(*store.Company) error) (store.Company, error) {
	if err := rules.LookupIDs("company", id); err != nil {
		return store.Company{}, err
	}
	load := func(t *tx) (store.Company, error) { return getCompany(ctx, t, id) }
	return modify(p, ctx, load, fn, func(t *tx, old store.Company, c *store.Company) error {
		if err := rules.ChangeCompany(old, c); err != nil {
			return err
		}
		doc, err := jsonDoc(c)
		if err != nil {
			return err
		}
		if !store.SameWindow(old.SyncWindow, c.SyncWindow) {
			t.change.SyncWindows = true
		}
		_, err = t.Exec(ctx, "UPDATE companies SET created = $2, doc = $3 WHERE id = $1", id, c.Created, doc)
		return err
	})
}

// DeleteCompany removes the company in one transaction: its connections,
// link codes, settings, schedule entries, datasets and their data go with
// it by cascade (the schema's ON DELETE CASCADE). Each connection's removal
// is recorded on the change feed, as Badger does.
func (p *PG) DeleteCompany(ctx context.Context, id string) error {
	if err := rules.LookupIDs("company", id); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, id); err != nil {
			return err
		}
		conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE company_id = $1 ORDER BY created, id", id)
		if err != nil {
			return err
		}
		for _, c := range conns {
			t.change.RecordConnection(&c, nil)
		}
		_, err = t.Exec(ctx, "DELETE FROM companies WHERE id = $1", id)
		return err
	})
}
