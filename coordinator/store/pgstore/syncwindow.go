package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Sync windows and pauses
//
// A connection's own window and its pause are in its doc, a company's
// window in the company's; the client's default window is the row
// 'syncWindow' of settings, absent when none is set. No column or table
// of their own: nothing filters or orders on them.

// profileWindow is the client's window; nil when none is set.
func profileWindow(ctx context.Context, t *tx) (*store.SyncWindow, error) {
	w, err := getDoc[store.SyncWindow](ctx, t, "SELECT doc FROM settings WHERE name = 'syncWindow'")
	if errNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func (p *PG) ProfileSyncWindow(ctx context.Context) (*store.SyncWindow, error) {
	var w *store.SyncWindow
	err := p.view(ctx, func(t *tx) (err error) {
		w, err = profileWindow(ctx, t)
		return err
	})
	return w, err
}

func (p *PG) SetProfileSyncWindow(ctx context.Context, w *store.SyncWindow) error {
	if w != nil {
		if err := rules.CheckSyncWindow(*w); err != nil {
			return err
		}
	}
	return p.update(ctx, func(t *tx) error {
		cur, err := profileWindow(ctx, t)
		if err != nil || store.SameWindow(cur, w) {
			return err
		}
		t.change.SyncWindows = true
		if w == nil {
			_, err := t.Exec(ctx, "DELETE FROM settings WHERE name = 'syncWindow'")
			return err
		}
		doc, err := jsonDoc(w)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, `INSERT INTO settings (name, doc) VALUES ('syncWindow', $1)
			ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc`, doc)
		return err
	})
}

// SyncGate reads the connection, its company's window and the client's in
// one statement: one snapshot, one round trip, as the hub asks before
// each offer of a connection's queued work.
func (p *PG) SyncGate(ctx context.Context, connectionID string) (store.SyncGate, error) {
	if err := rules.LookupIDs("connection", connectionID); err != nil {
		return store.SyncGate{}, err
	}
	var connDoc, coWin, clientWin []byte
	err := p.pool.QueryRow(ctx, `SELECT c.doc, co.doc->'syncWindow', (SELECT doc FROM settings WHERE name = 'syncWindow')
		FROM connections c JOIN companies co ON co.id = c.company_id WHERE c.id = $1`, connectionID).Scan(&connDoc, &coWin, &clientWin)
	if errNoRows(err) {
		return store.SyncGate{}, fmt.Errorf("connection %s: %w", connectionID, store.ErrNotFound)
	}
	if err != nil {
		return store.SyncGate{}, unavailable(err)
	}
	var c store.Connection
	var company, client *store.SyncWindow
	for _, d := range []struct {
		raw []byte
		v   any
	}{{connDoc, &c}, {coWin, &company}, {clientWin, &client}} {
		if len(d.raw) == 0 {
			continue
		}
		if err := json.Unmarshal(d.raw, d.v); err != nil {
			return store.SyncGate{}, fmt.Errorf("sync gate of connection %s: %w", connectionID, err)
		}
	}
	g := store.SyncGate{ConnectionID: c.ID, CompanyID: c.CompanyID, PausedSince: c.PausedSince}
	g.Window, g.Source = rules.EffectiveWindow(c.SyncWindow, company, client)
	return g, nil
}

// syncGate is connection c's pause and the sync window in force for it,
// read in t; store.ErrNotFound when its company is gone.
func syncGate(ctx context.Context, t *tx, c store.Connection) (store.SyncGate, error) {
	var coWin, clientWin []byte
	err := t.QueryRow(ctx, `SELECT co.doc->'syncWindow', (SELECT doc FROM settings WHERE name = 'syncWindow')
		FROM companies co WHERE co.id = $1`, c.CompanyID).Scan(&coWin, &clientWin)
	if errNoRows(err) {
		return store.SyncGate{}, fmt.Errorf("company %s: %w", c.CompanyID, store.ErrNotFound)
	}
	if err != nil {
		return store.SyncGate{}, err
	}
	var company, client *store.SyncWindow
	for _, d := range []struct {
		raw []byte
		v   any
	}{{coWin, &company}, {clientWin, &client}} {
		if len(d.raw) == 0 {
			continue
		}
		if err := json.Unmarshal(d.raw, d.v); err != nil {
			return store.SyncGate{}, fmt.Errorf("sync gate of connection %s: %w", c.ID, err)
		}
	}
	g := store.SyncGate{ConnectionID: c.ID, CompanyID: c.CompanyID, PausedSince: c.PausedSince}
	g.Window, g.Source = rules.EffectiveWindow(c.SyncWindow, company, client)
	return g, nil
}
