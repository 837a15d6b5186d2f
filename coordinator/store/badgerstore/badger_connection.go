package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func (b *Badger) CreateConnection(ctx context.Context, c store.Connection, code store.LinkCode) error {
	if err := checkNewConnection(&c, &code); err != nil {
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
	txn.recordConnection(old, &c)
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
	txn.recordConnection(&c, nil)
	return txn.Delete(connKey(c.CompanyID, c.ID))
}

// checkNewConnection refuses a connection or link code that would not fit
// the key layout, fills in the code's owner, and puts times in UTC.
func checkNewConnection(c *store.Connection, code *store.LinkCode) error {
	if err := checkConnection(*c); err != nil {
		return err
	}
	if err := checkLinkCode(code, c.CompanyID, c.ID); err != nil {
		return err
	}
	c.Created, c.LastSync, c.LinkCodeExpires = c.Created.UTC(), c.LastSync.UTC(), code.Expires
	return nil
}

// checkLinkCode refuses a link code that is not for connection co/conn,
// fills in the code's owner when it names none, and puts its expiry in UTC.
func checkLinkCode(code *store.LinkCode, co, conn string) error {
	if err := checkHash("link code", code.Hash); err != nil {
		return err
	}
	if code.CompanyID == "" && code.ConnectionID == "" {
		code.CompanyID, code.ConnectionID = co, conn
	}
	if code.CompanyID != co || code.ConnectionID != conn {
		return fmt.Errorf("link code is for connection %s/%s, not %s/%s",
			code.CompanyID, code.ConnectionID, co, conn)
	}
	code.Expires = code.Expires.UTC()
	return nil
}

func checkConnection(c store.Connection) error {
	if err := checkID("company", c.CompanyID); err != nil {
		return err
	}
	if err := checkID("connection", c.ID); err != nil {
		return err
	}
	switch c.Status {
	case store.PendingAuth, store.Linked, store.Unlinked, store.Deauthorized:
	default:
		return fmt.Errorf("connection %s: unknown status %q", c.ID, c.Status)
	}
	if c.AgentID != "" {
		return checkID("agent", c.AgentID)
	}
	return nil
}

// getConnection returns a connection of a live company.
func getConnection(txn *tx, companyID, id string) (store.Connection, error) {
	if _, err := getCompany(txn, companyID); err != nil {
		return store.Connection{}, err
	}
	var c store.Connection
	err := getJSON(txn, connKey(companyID, id), &c)
	return c, notFound(err, "connection", id)
}

func (b *Badger) Connection(ctx context.Context, companyID, id string) (store.Connection, error) {
	if err := lookupIDs("company", companyID, "connection", id); err != nil {
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
	if err := lookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.Connection
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		_, vals, err := scanKeys(txn, prefix("c", companyID, "conn"), 0)
		if err != nil {
			return err
		}
		out = make([]store.Connection, len(vals))
		for i, v := range vals {
			if err := json.Unmarshal(v, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b store.Connection) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (b *Badger) UpdateConnection(ctx context.Context, companyID, id string, fn func(*store.Connection) error) (store.Connection, error) {
	if err := lookupIDs("company", companyID, "connection", id); err != nil {
		return store.Connection{}, err
	}
	var out store.Connection
	err := b.update(ctx, func(txn *tx) error {
		old, err := getConnection(txn, companyID, id)
		if err != nil {
			return err
		}
		c := old
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != old.ID || c.CompanyID != old.CompanyID {
			return fmt.Errorf("update connection %s: the ids cannot change", id)
		}
		if err := checkConnection(c); err != nil {
			return err
		}
		c.Created, c.LastSync, c.LinkCodeExpires = c.Created.UTC(), c.LastSync.UTC(), c.LinkCodeExpires.UTC()
		if err := b.connectionChanged(txn, &old, &c); err != nil {
			return err
		}
		out = c
		return putConnection(txn, &old, c)
	})
	return out, err
}

// connectionChanged applies what follows from a connection's change: a
// connection withdrawn (Unlinked or Deauthorized) ends its work and loses
// its link code, which could otherwise undo the withdrawal. Unlinking an
// Unlinked connection again voids the code the client issued it since; a
// Deauthorized one keeps the code its link page issued.
func (b *Badger) connectionChanged(txn *tx, old, c *store.Connection) error {
	withdrawn := c.Status == store.Unlinked || c.Status == store.Deauthorized
	if !withdrawn || (old.Status == c.Status && c.Status != store.Unlinked) {
		return nil
	}
	if old.Status == store.Linked || old.Status == store.PendingAuth {
		if err := b.endConnectionWork(txn, *c, "connection is "+string(c.Status)); err != nil {
			return err
		}
	}
	c.LinkCodeExpires = time.Time{}
	return deleteLinkCodes(txn, *c)
}

func (b *Badger) DeleteConnection(ctx context.Context, companyID, id string) error {
	if err := lookupIDs("company", companyID, "connection", id); err != nil {
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
		switch {
		case d.Status == dataset.Queued:
			err = advance(&d, dataset.Coordinator, dataset.AuthError, now, store.ActorCoordinator, why)
		case inFlight(d.Status):
			revokeLease(&d)
		default:
			continue // past the agent: let it finish
		}
		if err != nil {
			return err
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

// checkIDs checks pairs of kind and id.
func checkIDs(kindsAndIDs ...string) error {
	for i := 0; i+1 < len(kindsAndIDs); i += 2 {
		if err := checkID(kindsAndIDs[i], kindsAndIDs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
