package pgstore

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) CreateConnection(ctx context.Context, c store.Connection, code store.LinkCode) error {
	if err := rules.CheckNewConnection(&c, &code); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, c.CompanyID); err != nil {
			return err
		}
		if err := putConnection(ctx, t, nil, c); err != nil {
			return err
		}
		return putLinkCode(ctx, t, code)
	})
}

// putLinkCode stores a new link code; ErrExists if its hash is taken.
func putLinkCode(ctx context.Context, t *tx, code store.LinkCode) error {
	doc, err := jsonDoc(code)
	if err != nil {
		return err
	}
	_, err = t.Exec(ctx, "INSERT INTO link_codes (hash, connection_id, doc) VALUES ($1, $2, $3)", code.Hash, code.ConnectionID, doc)
	if isUnique(err) {
		return fmt.Errorf("link code of connection %s: %w", code.ConnectionID, store.ErrExists)
	}
	return err
}

// putConnection stores c, which was old before the change (nil for a new
// connection: ErrExists if its id is taken), with the schedule, webhook
// events and feed change that go with the change. Every write of a
// connection goes through it.
func putConnection(ctx context.Context, t *tx, old *store.Connection, c store.Connection) error {
	doc, err := jsonDoc(c)
	if err != nil {
		return err
	}
	agent := &c.AgentID
	if c.AgentID == "" {
		agent = nil
	}
	if old == nil {
		_, err = t.Exec(ctx, "INSERT INTO connections (id, company_id, agent_id, created, doc) VALUES ($1, $2, $3, $4, $5)",
			c.ID, c.CompanyID, agent, c.Created, doc)
		if isUnique(err) {
			return fmt.Errorf("connection %s: %w", c.ID, store.ErrExists)
		}
	} else {
		_, err = t.Exec(ctx, "UPDATE connections SET agent_id = $2, created = $3, doc = $4 WHERE id = $1",
			c.ID, agent, c.Created, doc)
	}
	if err != nil {
		return err
	}
	if err := connectionScheduled(ctx, t, old, c); err != nil {
		return err
	}
	if err := connectionEvents(ctx, t, old, c); err != nil {
		return err
	}
	t.change.RecordConnection(old, &c)
	return nil
}

// getConnection returns a connection of a company; ErrNotFound if either
// is missing or the connection is another company's.
func getConnection(ctx context.Context, t *tx, companyID, id string) (store.Connection, error) {
	if _, err := getCompany(ctx, t, companyID); err != nil {
		return store.Connection{}, err
	}
	c, err := getDoc[store.Connection](ctx, t, "SELECT doc FROM connections WHERE id = $1 AND company_id = $2", id, companyID)
	return c, notFound(err, "connection", id)
}

// connectionByID returns a connection by its id alone; ErrNotFound if
// missing.
func connectionByID(ctx context.Context, t *tx, id string) (store.Connection, error) {
	c, err := getDoc[store.Connection](ctx, t, "SELECT doc FROM connections WHERE id = $1", id)
	return c, notFound(err, "connection", id)
}

// findConnection returns the connection of a company; nil if missing.
func findConnection(ctx context.Context, t *tx, companyID, id string) (*store.Connection, error) {
	c, err := getDoc[store.Connection](ctx, t, "SELECT doc FROM connections WHERE id = $1 AND company_id = $2", id, companyID)
	if errNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (p *PG) Connection(ctx context.Context, companyID, id string) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return store.Connection{}, err
	}
	var c store.Connection
	err := p.view(ctx, func(t *tx) (err error) {
		c, err = getConnection(ctx, t, companyID, id)
		return err
	})
	return c, err
}

func (p *PG) Connections(ctx context.Context, companyID string) ([]store.Connection, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.Connection
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		var err error
		out, err = listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE company_id = $1 ORDER BY created, id", companyID)
		return err
	})
	return out, err
}

func (p *PG) UpdateConnection(ctx context.Context, companyID, id string, fn func(*store.Connection) error) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return store.Connection{}, err
	}
	load := func(t *tx) (store.Connection, error) { return getConnection(ctx, t, companyID, id) }
	return modify(p, ctx, load, fn, func(t *tx, old store.Connection, c *store.Connection) error {
		change, err := rules.ChangeConnection(old, c, p.now())
		if err != nil {
			return err
		}
		if change.EndWork {
			if err := endConnectionWork(ctx, t, *c, "connection is "+string(c.Status), p.now()); err != nil {
				return err
			}
		}
		if change.DropCodes {
			if err := deleteLinkCodes(ctx, t, c.ID); err != nil {
				return err
			}
		}
		return putConnection(ctx, t, &old, *c)
	})
}

// DeleteConnection removes the connection; its link codes and schedule
// entries go with it by cascade. Its datasets stay.
func (p *PG) DeleteConnection(ctx context.Context, companyID, id string) error {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		c, err := getConnection(ctx, t, companyID, id)
		if err != nil {
			return err
		}
		if err := endConnectionWork(ctx, t, c, "connection deleted", p.now()); err != nil {
			return err
		}
		for _, e := range rules.DeletedEvents(c, p.now()) {
			if err := emit(ctx, t, e, c); err != nil {
				return err
			}
		}
		if _, err := t.Exec(ctx, "DELETE FROM connections WHERE id = $1", id); err != nil {
			return err
		}
		t.change.RecordConnection(&c, nil)
		return nil
	})
}

// deleteLinkCodes removes every link code of the connection.
func deleteLinkCodes(ctx context.Context, t *tx, connectionID string) error {
	_, err := t.Exec(ctx, "DELETE FROM link_codes WHERE connection_id = $1", connectionID)
	return err
}
