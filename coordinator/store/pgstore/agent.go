package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

func (p *PG) CreateAgent(ctx context.Context, a store.Agent) error {
	if err := rules.CheckAgent(a); err != nil {
		return err
	}
	a.Created, a.LastSeen = a.Created.UTC(), a.LastSeen.UTC()
	return p.update(ctx, func(t *tx) error { return putAgent(ctx, t, nil, a) })
}

// putAgent stores a, which was old before the change (nil for a new
// agent); ErrExists if its id (a new agent) or credential hash is taken.
func putAgent(ctx context.Context, t *tx, old *store.Agent, a store.Agent) error {
	doc, err := jsonDoc(a)
	if err != nil {
		return err
	}
	if old == nil {
		_, err = t.Exec(ctx, "INSERT INTO agents (id, credential_hash, created, doc) VALUES ($1, $2, $3, $4)",
			a.ID, a.CredentialHash, a.Created, doc)
	} else {
		_, err = t.Exec(ctx, "UPDATE agents SET credential_hash = $2, created = $3, doc = $4 WHERE id = $1",
			a.ID, a.CredentialHash, a.Created, doc)
	}
	if isUnique(err) {
		return fmt.Errorf("agent %s or its credential: %w", a.ID, store.ErrExists)
	}
	if err != nil {
		return err
	}
	t.change.RecordAgent(old, a)
	return nil
}

func getAgent(ctx context.Context, t *tx, id string) (store.Agent, error) {
	a, err := getDoc[store.Agent](ctx, t, "SELECT doc FROM agents WHERE id = $1", id)
	return a, notFound(err, "agent", id)
}

func (p *PG) Agent(ctx context.Context, id string) (store.Agent, error) {
	if err := rules.LookupIDs("agent", id); err != nil {
		return store.Agent{}, err
	}
	var a store.Agent
	err := p.view(ctx, func(t *tx) (err error) {
		a, err = getAgent(ctx, t, id)
		return err
	})
	return a, err
}

func (p *PG) AgentByCredential(ctx context.Context, hash []byte) (store.Agent, error) {
	if err := rules.CheckHash("agent credential", hash); err != nil {
		return store.Agent{}, err
	}
	var a store.Agent
	err := p.view(ctx, func(t *tx) (err error) {
		a, err = getDoc[store.Agent](ctx, t, "SELECT doc FROM agents WHERE credential_hash = $1", hash)
		return notFound(err, "agent", "with that credential")
	})
	return a, err
}

func (p *PG) AgentDatasetByCredential(ctx context.Context, hash []byte, datasetID string) (store.Agent, store.Dataset, error) {
	if err := rules.CheckHash("agent credential", hash); err != nil {
		return store.Agent{}, store.Dataset{}, err
	}
	var (
		a store.Agent
		d store.Dataset
	)
	err := p.view(ctx, func(t *tx) (err error) {
		a, err = getDoc[store.Agent](ctx, t, "SELECT doc FROM agents WHERE credential_hash = $1", hash)
		if err != nil {
			a = store.Agent{}
			return notFound(err, "agent", "with that credential")
		}
		if err := rules.LookupIDs("dataset", datasetID); err != nil {
			return err
		}
		d, err = uploading(ctx, t, a.ID, datasetID)
		return err
	})
	return a, d, err
}

func (p *PG) Agents(ctx context.Context) ([]store.Agent, error) {
	var out []store.Agent
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Agent](ctx, t, "SELECT doc FROM agents ORDER BY created, id")
		return err
	})
	return out, err
}

func (p *PG) UpdateAgent(ctx context.Context, id string, fn func(*store.Agent) error) (store.Agent, error) {
	if err := rules.LookupIDs("agent", id); err != nil {
		return store.Agent{}, err
	}
	load := func(t *tx) (store.Agent, error) { return getAgent(ctx, t, id) }
	return modify(p, ctx, load, fn, func(t *tx, old store.Agent, a *store.Agent) error {
		if err := rules.ChangeAgent(old, a); err != nil {
			return err
		}
		t.change.RecordLogLevel(old, *a)
		t.change.RecordUpdateAsk(old, *a)
		return putAgent(ctx, t, &old, *a)
	})
}

func (p *PG) AgentConnections(ctx context.Context, agentID string) ([]store.Connection, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	var out []store.Connection
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE agent_id = $1 ORDER BY created, id", agentID)
		return err
	})
	return out, err
}

func (p *PG) RedeemLinkCode(ctx context.Context, hash []byte, agentID string, now time.Time) (store.Connection, error) {
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
	err := p.update(ctx, func(t *tx) error {
		expired = false
		code, err := getDoc[store.LinkCode](ctx, t, "SELECT doc FROM link_codes WHERE hash = $1", hash)
		if err != nil {
			return notFound(err, "link code", "with that hash")
		}
		if rules.CodeExpired(code, now) {
			expired = true
			if _, err := t.Exec(ctx, "DELETE FROM link_codes WHERE hash = $1", hash); err != nil {
				return err
			}
			c, err := getConnection(ctx, t, code.CompanyID, code.ConnectionID)
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
			return putConnection(ctx, t, &old, c)
		}
		c, err := getConnection(ctx, t, code.CompanyID, code.ConnectionID)
		if err != nil {
			return err
		}
		old := c
		rules.Redeem(&c, agentID, now)
		if err := deleteLinkCodes(ctx, t, c.ID); err != nil {
			return err
		}
		out = c
		return putConnection(ctx, t, &old, c)
	})
	if err == nil && expired {
		return store.Connection{}, fmt.Errorf("link code: %w", store.ErrCodeExpired)
	}
	return out, err
}

func (p *PG) ReplaceLinkCode(ctx context.Context, companyID, connectionID string, code store.LinkCode, from ...store.ConnectionStatus) (store.Connection, error) {
	if err := rules.LookupIDs("company", companyID, "connection", connectionID); err != nil {
		return store.Connection{}, err
	}
	if err := rules.CheckLinkCode(&code, companyID, connectionID); err != nil {
		return store.Connection{}, err
	}
	var out store.Connection
	err := p.update(ctx, func(t *tx) error {
		c, err := getConnection(ctx, t, companyID, connectionID)
		if err != nil {
			return err
		}
		if err := rules.CanReplaceCode(c, from); err != nil {
			return err
		}
		if err := deleteLinkCodes(ctx, t, c.ID); err != nil {
			return err
		}
		if err := putLinkCode(ctx, t, code); err != nil {
			return err
		}
		old := c
		c.LinkCodeExpires = code.Expires
		out = c
		return putConnection(ctx, t, &old, c)
	})
	return out, err
}
