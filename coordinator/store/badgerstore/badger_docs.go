package badgerstore

import (
	"maps"
	"slices"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// The documents a transaction decodes once (getDoc), and their clones: a
// clone shares no map, slice or pointer with what the transaction holds,
// so its caller may change it. TestDocClones fills every field of each.

// cloneCompany is c, deep.
func cloneCompany(c companyRecord) companyRecord {
	c.Tags = maps.Clone(c.Tags)
	c.SyncWindow = cloneSyncWindow(c.SyncWindow)
	return c
}

// cloneConnection is c, deep.
func cloneConnection(c store.Connection) store.Connection {
	c.SyncWindow = cloneSyncWindow(c.SyncWindow)
	c.Errors = slices.Clone(c.Errors)
	return c
}

// cloneDataset is d, deep.
func cloneDataset(d store.Dataset) store.Dataset {
	d.Timeline = slices.Clone(d.Timeline)
	d.Warnings = slices.Clone(d.Warnings)
	d.FirstLink = slices.Clone(d.FirstLink)
	return d
}

// cloneSyncWindow is w, deep.
func cloneSyncWindow(w *store.SyncWindow) *store.SyncWindow {
	if w == nil {
		return nil
	}
	c := *w
	c.Windows = slices.Clone(w.Windows)
	for i := range c.Windows {
		c.Windows[i].Days = slices.Clone(c.Windows[i].Days)
	}
	return &c
}
