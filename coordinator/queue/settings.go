package queue

import (
	"slices"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Setting is a data type's sync setting, Codat's SyncSetting; the store
// keeps them.
type Setting = store.SyncSetting

// DefaultSettings are the settings of a client that has set none: every
// data type fetched on first link and every 24 hours.
func DefaultSettings() []Setting { return store.DefaultSyncSettings() }

// IntegrationInfo describes a connector.
type IntegrationInfo struct {
	Key  string
	Name string
	// ID and SourceID are stable UUIDs, as Codat gives every integration.
	ID        string
	SourceID  string
	DataTypes []dataset.DataType
}

// Supports reports whether the connector can provide dt.
func (i IntegrationInfo) Supports(dt dataset.DataType) bool {
	return slices.Contains(i.DataTypes, dt)
}

// Integrations are Ferry's connectors, all of them offline (agent-based).
var Integrations = []IntegrationInfo{
	{
		Key: "gnucash", Name: "GnuCash",
		ID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c0001", SourceID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c1001",
		DataTypes: dataset.DataTypes,
	},
	{
		Key: "csv", Name: "CSV files",
		ID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c0002", SourceID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c1002",
		DataTypes: dataset.DataTypes,
	},
}

// Integration returns the connector with the platform key.
func Integration(key string) (IntegrationInfo, bool) {
	for _, i := range Integrations {
		if i.Key == key {
			return i, true
		}
	}
	return IntegrationInfo{}, false
}
