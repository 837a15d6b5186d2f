package store

import (
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// SyncSetting is a data type's sync setting, Codat's SyncSetting.
type SyncSetting struct {
	DataType         dataset.DataType `json:"dataType"`
	FetchOnFirstLink bool             `json:"fetchOnFirstLink"`
	// SyncSchedule is the hours between scheduled syncs; 0 for none.
	SyncSchedule int  `json:"syncSchedule"`
	SyncOrder    int  `json:"syncOrder"`
	IsLocked     bool `json:"isLocked"`
}

// MaxSyncSchedule is the longest schedule a setting may have: a year.
const MaxSyncSchedule = 24 * 366

// DefaultSyncSettings are the settings of a client that has set none: every
// data type fetched on first link and every 24 hours, in the order of
// dataset.DataTypes (what others refer to first).
func DefaultSyncSettings() []SyncSetting {
	out := make([]SyncSetting, len(dataset.DataTypes))
	for i, dt := range dataset.DataTypes {
		out[i] = SyncSetting{DataType: dt, FetchOnFirstLink: true, SyncSchedule: 24, SyncOrder: i}
	}
	return out
}

// CheckSyncSettings refuses a list with an unknown or repeated data type, a
// negative order or a schedule outside 0..MaxSyncSchedule.
func CheckSyncSettings(list []SyncSetting) error {
	seen := map[dataset.DataType]bool{}
	for _, s := range list {
		if !s.DataType.Valid() {
			return fmt.Errorf("sync setting: unknown data type %q", s.DataType)
		}
		if seen[s.DataType] {
			return fmt.Errorf("sync setting: data type %s is given twice", s.DataType)
		}
		seen[s.DataType] = true
		if s.SyncSchedule < 0 || s.SyncSchedule > MaxSyncSchedule {
			return fmt.Errorf("sync setting %s: syncSchedule must be 0 to %d hours", s.DataType, MaxSyncSchedule)
		}
		if s.SyncOrder < 0 || s.SyncOrder > 1000 {
			return fmt.Errorf("sync setting %s: syncOrder must be 0 to 1000", s.DataType)
		}
	}
	return nil
}

// CompanySyncSettings is a company's own settings, Codat's
// CompanySyncSettings.
type CompanySyncSettings struct {
	CompanyID string        `json:"companyId"`
	Settings  []SyncSetting `json:"settings"`
	// OverridesDefaults: the company's settings replace the client's; when
	// false the client's apply.
	OverridesDefaults bool `json:"overridesDefaults"`
}

// ScheduledSync is one schedule entry: the data type is due on the
// connection at Due, SyncSchedule hours after the last dataset was
// requested.
type ScheduledSync struct {
	CompanyID    string           `json:"companyId"`
	ConnectionID string           `json:"connectionId"`
	DataType     dataset.DataType `json:"dataType"`
	// Requested is when the type's last dataset on the connection was
	// requested.
	Requested time.Time `json:"requested"`
	Due       time.Time `json:"due"`
}
