package badgerstore

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Sync windows and pauses
//
// A connection's own window and its pause are in its value, a company's
// window in the company's; the client's default window is the key
// set/syncWindow, absent when none is set.

func profileWindowKey() []byte { return key("set", "syncWindow") }

// profileWindow is the client's window; nil when none is set.
func profileWindow(txn *tx) (*store.SyncWindow, error) {
	var w store.SyncWindow
	err := getJSON(txn, profileWindowKey(), &w)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func (b *Badger) ProfileSyncWindow(ctx context.Context) (*store.SyncWindow, error) {
	var w *store.SyncWindow
	err := b.view(ctx, func(txn *tx) (err error) {
		w, err = profileWindow(txn)
		return err
	})
	return w, err
}

func (b *Badger) SetProfileSyncWindow(ctx context.Context, w *store.SyncWindow) error {
	if w != nil {
		if err := rules.CheckSyncWindow(*w); err != nil {
			return err
		}
	}
	return b.update(ctx, func(txn *tx) error {
		cur, err := profileWindow(txn)
		if err != nil || store.SameWindow(cur, w) {
			return err
		}
		txn.change.SyncWindows = true
		if w == nil {
			return txn.Delete(profileWindowKey())
		}
		return setJSON(txn, profileWindowKey(), w)
	})
}

func (b *Badger) SyncGate(ctx context.Context, connectionID string) (store.SyncGate, error) {
	if err := rules.LookupIDs("connection", connectionID); err != nil {
		return store.SyncGate{}, err
	}
	var g store.SyncGate
	err := b.view(ctx, func(txn *tx) error {
		co, err := getString(txn, connIndexKey(connectionID))
		if err != nil {
			return notFound(err, "connection", connectionID)
		}
		c, err := getConnection(txn, co, connectionID)
		if err != nil {
			return err
		}
		g, err = syncGate(txn, c)
		return err
	})
	return g, err
}

// syncGate is connection c's pause and the sync window in force for it.
func syncGate(txn *tx, c store.Connection) (store.SyncGate, error) {
	company, err := getCompany(txn, c.CompanyID)
	if err != nil {
		return store.SyncGate{}, err
	}
	client, err := profileWindow(txn)
	if err != nil {
		return store.SyncGate{}, err
	}
	g := store.SyncGate{ConnectionID: c.ID, CompanyID: c.CompanyID, PausedSince: c.PausedSince}
	g.Window, g.Source = rules.EffectiveWindow(c.SyncWindow, company.SyncWindow, client)
	return g, nil
}
