// Package platform names Ferry's connectors, the platforms of Codat's API:
// the key that the API, link codes and the agent's config spell them with,
// and what the API's integrations say of each. Every part that spells a
// platform key uses these.
package platform

import (
	"slices"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The platform keys.
const (
	GnuCash = "gnucash"
	CSV     = "csv"
)

// Info describes a platform.
type Info struct {
	Key  string
	Name string
	// ID and SourceID are stable UUIDs, as Codat gives every integration.
	ID        string
	SourceID  string
	DataTypes []dataset.DataType
}

// Supports reports whether the platform's connector can provide dt.
func (i Info) Supports(dt dataset.DataType) bool {
	return slices.Contains(i.DataTypes, dt)
}

// All are Ferry's platforms, all of them offline (agent-based), in the
// order the API lists them.
var All = []Info{
	{
		Key: GnuCash, Name: "GnuCash",
		ID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c0001", SourceID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c1001",
		DataTypes: dataset.DataTypes,
	},
	{
		Key: CSV, Name: "CSV files",
		ID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c0002", SourceID: "6b1f0c6e-3a0e-4c59-9d4e-6f1f5a0c1002",
		DataTypes: dataset.DataTypes,
	},
}

// Lookup returns the platform with the key.
func Lookup(key string) (Info, bool) {
	i := slices.IndexFunc(All, func(in Info) bool { return in.Key == key })
	if i < 0 {
		return Info{}, false
	}
	return All[i], true
}

// Keys returns the keys of All, in its order.
func Keys() []string {
	keys := make([]string, len(All))
	for i, in := range All {
		keys[i] = in.Key
	}
	return keys
}
