package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func (b *Badger) CreateConnection(ctx context.Context, c store.Connection, code store.LinkCode) error {
	if err := rules.CheckNewConnection(&c, &code); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, c.CompanyID); err != nil {
			return err
		}
		if err := mustBeFree(txn, connIndexKey(c.ID), "connection "+c.ID); err != nil {
			return err
		}
		if err := mustBeFree(txn, linkCodeKey(code.Hash), "link code of connection "+c.ID); err != nil {
			return err
		}
		if err := txn.Set(connIndexKey(c.ID), []byte(c.CompanyID)); err != nil {
			return err
		}
		if err := setJSON(txn, linkCodeKey(code.Hash), code); err != nil {
			return err
		}
		if err := txn.Set(linkCodeRefKey(c.CompanyID, c.ID, code.Hash), nil); err != nil {
			return err
		}
		return putConnection(txn, nil, c)
	})
}

// putConnection stores c, which was old before the change (nil for a new
// connection), and keeps the index of connections by agent in step. Every
// write of a connection goes through it, so the index cannot drift.
func putConnection(txn *tx, old *store.Connection, c store.Connection) error {
	was := ""
	if old != nil {
		was = old.AgentID
	}
	if was != c.AgentID {
		if was != "" {
			if err := txn.Delete(agentConnKey(was, c.ID)); err != nil {
				return err
			}
		}
		if c.AgentID != "" {
			if err := txn.Set(agentConnKey(c.AgentID, c.ID), []byte(c.CompanyID)); err != nil {
				return err
			}
		}
	}
	if err := connectionScheduled(txn, old, c); err != nil {
		return err
	}
	if err := connectionEvents(txn, old, c); err != nil {
		return err
	}
	txn.change.RecordConnection(old, &c)
	return setJSON(txn, connKey(c.CompanyID, c.ID), c)
}

// deleteConnectionKeys removes a connection and its index entries.
func deleteConnectionKeys(txn *tx, c store.Connection) error {
	if c.AgentID != "" {
		if err := txn.Delete(agentConnKey(c.AgentID, c.ID)); err != nil {
			return err
		}
	}
	if err := txn.Delete(connIndexKey(c.ID)); err != nil {
		return err
	}
	if err := deleteSchedule(txn, c.ID); err != nil {
		return err
	}
	txn.change.RecordConnection(&c, nil)
	return txn.Delete(connKey(c.CompanyID, c.ID))
}

// getConnection returns a connection of a live company.
func getConnection(txn *tx, companyID, id string) (store.Connection, error) {
	if _, err := getCompany(txn, companyID); err != nil {
		return store.Connection{}, err
	}
	c, err := getDoc(txn, connKey(companyID, id), cloneConnection)
	return c, notFound(err, "connection", id)
}

// findConnection returns the stored connection, whether or not its company
// is live; nil if missing.
func findConnection(txn *tx, companyID, id string) (*store.Connection, error) {
	c, err := getDoc(txn, connKey(companyID, id), cloneConnection)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (b *Badger) Connection(ctx context.Context, companyID, id string) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return store.Connection{}, err
	}
	var c store.Connection
	err := b.view(ctx, func(txn *tx) error {
		var err error
		c, err = getConnection(txn, companyID, id)
		return err
	})
	return c, err
}

// Connections are few per company, so they are sorted here rather than
// kept in an index.
func (b *Badger) Connections(ctx context.Context, companyID string) ([]store.Connection, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.Connection
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		var err error
		out, err = listValues[store.Connection](txn, prefix("c", companyID, "conn"))
		return err
	})
	slices.SortStableFunc(out, func(a, b store.Connection) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (b *Badger) UpdateConnection(ctx context.Context, companyID, id string, fn func(*store.Connection) error) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return store.Connection{}, err
	}
	load := func(txn *tx) (store.Connection, error) { return getConnection(txn, companyID, id) }
	return modify(b, ctx, load, fn, func(txn *tx, old store.Connection, c *store.Connection) error {
		change, err := rules.ChangeConnection(old, c, b.now())
		if err != nil {
			return err
		}
		if change.EndWork {
			if err := b.endConnectionWork(txn, *c, "connection is "+string(c.Status)); err != nil {
				return err
			}
		}
		if change.DropCodes {
			if err := deleteLinkCodes(txn, *c); err != nil {
				return err
			}
		}
		return putConnection(txn, &old, *c)
	})
}

func (b *Badger) DeleteConnection(ctx context.Context, companyID, id string) error {
	if err := rules.LookupIDs("company", companyID, "connection", id); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		c, err := getConnection(txn, companyID, id)
		if err != nil {
			return err
		}
		if err := b.endConnectionWork(txn, c, "connection deleted"); err != nil {
			return err
		}
		if err := deleteLinkCodes(txn, c); err != nil {
			return err
		}
		for _, e := range rules.DeletedEvents(c, b.now()) {
			if err := emit(txn, e, c); err != nil {
				return err
			}
		}
		return deleteConnectionKeys(txn, c)
	})
}

// endConnectionWork moves the connection's Queued datasets to AuthError and
// revokes the leases on its in-flight ones. It reads the active index key of
// every data type, present or not, so that a dataset queued concurrently
// makes one of the two transactions conflict.
func (b *Badger) endConnectionWork(txn *tx, c store.Connection, why string) error {
	now := b.now().UTC()
	for _, t := range dataset.DataTypes {
		id, err := getString(txn, activeKey(c.ID, t))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		d, err := getDataset(txn, c.CompanyID, id)
		if err != nil {
			return err
		}
		old := d
		changed, err := rules.EndWork(&d, now, why)
		if err != nil {
			return err
		}
		if !changed {
			continue // past the agent: let it finish
		}
		if err := putDataset(txn, &old, &d); err != nil {
			return err
		}
	}
	return nil
}

// deleteLinkCodes removes every link code of the connection.
func deleteLinkCodes(txn *tx, c store.Connection) error {
	p := prefix("c", c.CompanyID, "code", c.ID)
	keys, _, err := scanKeys(txn, p, 0)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := txn.Delete(key("lc", lastSegment(k))); err != nil {
			return err
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
