package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"
)

func (b *Badger) CreateAgent(ctx context.Context, a store.Agent) error {
	if err := rules.CheckAgent(a); err != nil {
		return err
	}
	a.Created, a.LastSeen = a.Created.UTC(), a.LastSeen.UTC()
	return b.update(ctx, func(txn *tx) error {
		if err := mustBeFree(txn, agentKey(a.ID), "agent "+a.ID); err != nil {
			return err
		}
		if err := mustBeFree(txn, agentHashKey(a.CredentialHash), "credential of agent "+a.ID); err != nil {
			return err
		}
		return putAgent(txn, nil, a)
	})
}

// putAgent stores a, which was old before the change (nil for a new agent),
// with its index entries.
func putAgent(txn *tx, old *store.Agent, a store.Agent) error {
	if old != nil {
		if err := txn.Delete(agentHashKey(old.CredentialHash)); err != nil {
			return err
		}
		if err := txn.Delete(agentOrderKey(*old)); err != nil {
			return err
		}
	}
	if err := txn.Set(agentHashKey(a.CredentialHash), []byte(a.ID)); err != nil {
		return err
	}
	if err := txn.Set(agentOrderKey(a), nil); err != nil {
		return err
	}
	txn.change.RecordAgent(old, a)
	return setJSON(txn, agentKey(a.ID), a)
}

func getAgent(txn *tx, id string) (store.Agent, error) {
	var a store.Agent
	err := getJSON(txn, agentKey(id), &a)
	return a, notFound(err, "agent", id)
}

func (b *Badger) Agent(ctx context.Context, id string) (store.Agent, error) {
	if err := rules.LookupIDs("agent", id); err != nil {
		return store.Agent{}, err
	}
	var a store.Agent
	err := b.view(ctx, func(txn *tx) error {
		var err error
		a, err = getAgent(txn, id)
		return err
	})
	return a, err
}

func (b *Badger) AgentByCredential(ctx context.Context, hash []byte) (store.Agent, error) {
	if err := rules.CheckHash("agent credential", hash); err != nil {
		return store.Agent{}, err
	}
	var a store.Agent
	err := b.view(ctx, func(txn *tx) (err error) {
		a, err = agentByCredential(txn, hash)
		return err
	})
	return a, err
}

func (b *Badger) AgentDatasetByCredential(ctx context.Context, hash []byte, datasetID string) (store.Agent, store.Dataset, error) {
	if err := rules.CheckHash("agent credential", hash); err != nil {
		return store.Agent{}, store.Dataset{}, err
	}
	var (
		a store.Agent
		d store.Dataset
	)
	err := b.view(ctx, func(txn *tx) (err error) {
		if a, err = agentByCredential(txn, hash); err != nil {
			return err
		}
		if err := rules.LookupIDs("dataset", datasetID); err != nil {
			return err
		}
		d, err = uploading(txn, a.ID, datasetID)
		return err
	})
	return a, d, err
}

// agentByCredential finds the agent with the credential whose hash is
// given: the zero Agent and ErrNotFound if none.
func agentByCredential(txn *tx, hash []byte) (store.Agent, error) {
	id, err := getString(txn, agentHashKey(hash))
	if err != nil {
		return store.Agent{}, notFound(err, "agent", "with that credential")
	}
	a, err := getAgent(txn, id)
	if err != nil {
		return store.Agent{}, err
	}
	if subtle.ConstantTimeCompare(a.CredentialHash, hash) != 1 {
		return store.Agent{}, fmt.Errorf("agent %s: credential index out of date: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func (b *Badger) Agents(ctx context.Context) ([]store.Agent, error) {
	var out []store.Agent
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, prefix("ago"), func(id string, _ []byte) (store.Agent, error) {
			return getAgent(txn, id)
		})
		return err
	})
	return out, err
}

func (b *Badger) UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error) {
	if err := rules.LookupIDs("agent", id); err != nil {
		return store.Agent{}, err
	}
	load := func(txn *tx) (store.Agent, error) { return getAgent(txn, id) }
	return modify(b, ctx, load, fn, func(txn *tx, old store.Agent, a *store.Agent) error {
		if err := rules.ChangeAgent(old, a); err != nil {
			return err
		}
		txn.change.RecordLogLevel(old, *a)
		txn.change.RecordUpdateAsk(old, *a)
		if !slices.Equal(a.CredentialHash, old.CredentialHash) {
			if err := mustBeFree(txn, agentHashKey(a.CredentialHash), "credential of agent "+id); err != nil {
				return err
			}
		}
		return putAgent(txn, &old, *a)
	})
}

// AgentConnections reads the connections of the agent index, skipping
// those of a company being deleted.
func (b *Badger) AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	var out []store.Connection
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = listIndex(txn, prefix("ac", agentID), func(id string, co []byte) (store.Connection, error) {
			return skipMissing(getConnection(txn, string(co), id))
		})
		return err
	})
	slices.SortStableFunc(out, func(a, b store.Connection) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

func (b *Badger) RedeemLinkCode(ctx context.Context, hash []byte, agentID string, now time.Time) (store.Connection, error) {
	if err := rules.CheckHash("link code", hash); err != nil {
		return store.Connection{}, err
	}
	if err := rules.CheckID("agent", agentID); err != nil {
		return store.Connection{}, err
	}
	if now.IsZero() {
		return store.Connection{}, errors.New("redeem link code: time is zero")
	}
	now = now.UTC()
	var (
		out     store.Connection
		expired bool // the code was deleted, and the call fails
	)
	err := b.update(ctx, func(txn *tx) error {
		expired = false
		var code store.LinkCode
		if err := getJSON(txn, linkCodeKey(hash), &code); err != nil {
			return notFound(err, "link code", "with that hash")
		}
		if rules.CodeExpired(code, now) {
			expired = true
			if err := txn.Delete(linkCodeRefKey(code.CompanyID, code.ConnectionID, hash)); err != nil {
				return err
			}
			if err := txn.Delete(linkCodeKey(hash)); err != nil {
				return err
			}
			c, err := getConnection(txn, code.CompanyID, code.ConnectionID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			old := c
			if !rules.LinkFailed(&c, code.Expires, now) {
				return nil
			}
			return putConnection(txn, &old, c)
		}
		c, err := getConnection(txn, code.CompanyID, code.ConnectionID)
		if err != nil {
			return err
		}
		old := c
		rules.Redeem(&c, agentID, now)
		if err := deleteLinkCodes(txn, c); err != nil {
			return err
		}
		out = c
		return putConnection(txn, &old, c)
	})
	if err == nil && expired {
		return store.Connection{}, fmt.Errorf("link code: %w", store.ErrCodeExpired)
	}
	return out, err
}

func (b *Badger) ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code store.LinkCode, from ...store.ConnectionStatus) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", connectionID); err != nil {
		return store.Connection{}, err
	}
	if err := rules.CheckLinkCode(&code, companyID, connectionID); err != nil {
		return store.Connection{}, err
	}
	var out store.Connection
	err := b.update(ctx, func(txn *tx) error {
		c, err := getConnection(txn, companyID, connectionID)
		if err != nil {
			return err
		}
		if err := rules.CanReplaceCode(c, from); err != nil {
			return err
		}
		if err := deleteLinkCodes(txn, c); err != nil {
			return err
		}
		if err := mustBeFree(txn, linkCodeKey(code.Hash), "link code of connection "+c.ID); err != nil {
			return err
		}
		if err := setJSON(txn, linkCodeKey(code.Hash), code); err != nil {
			return err
		}
		if err := txn.Set(linkCodeRefKey(c.CompanyID, c.ID, code.Hash), nil); err != nil {
			return err
		}
		old := c
		c.LinkCodeExpires = code.Expires
		out = c
		return putConnection(txn, &old, c)
	})
	return out, err
}
