package queue

import "github.com/ferry-sync/ferry/coordinator/store"

// Setting is a data type's sync setting, Codat's SyncSetting; the store
// keeps them.
type Setting = store.SyncSetting

// DefaultSettings are the settings of a client that has set none: every
// data type fetched on first link and every 24 hours.
func DefaultSettings() []Setting { return store.DefaultSyncSettings() }
