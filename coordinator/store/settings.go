package store

import (
	"context"
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

// SettingsStore keeps the sync settings, client-wide and per company, and
// the schedule they make: when each (connection, data type) is next due.
// Store embeds it.
type SettingsStore interface {
	// ProfileSyncSettings returns the client-wide settings, one per data
	// type (the defaults for the types never set).
	ProfileSyncSettings(ctx context.Context) ([]SyncSetting, error)
	// SetProfileSyncSettings replaces the settings of the types given
	// (CheckSyncSettings), keeping the others, and moves the schedule of
	// every connection that follows them to the new hours.
	SetProfileSyncSettings(ctx context.Context, list []SyncSetting) error
	// CompanySyncSettings returns a company's own settings (those of the
	// client when it set none); ErrNotFound if the company is missing.
	CompanySyncSettings(ctx context.Context, companyID string) (CompanySyncSettings, error)
	// SetCompanySyncSettings replaces the settings of the types given for a
	// company, keeping the others, and moves the schedule of its
	// connections; ErrNotFound if the company is missing.
	SetCompanySyncSettings(ctx context.Context, s CompanySyncSettings) error
	// EffectiveSyncSettings returns the settings in force for a company:
	// its own when they override the defaults, the client's otherwise.
	EffectiveSyncSettings(ctx context.Context, companyID string) ([]SyncSetting, error)

	// DueSyncs returns at most limit schedule entries due at or before now,
	// earliest first. It reads only due entries: its cost does not grow
	// with the number of connections.
	DueSyncs(ctx context.Context, now time.Time, limit int) ([]ScheduledSync, error)
	// Reschedule moves a due entry to next (it stays at most one entry per
	// connection and type), or removes it when next is zero. An entry that
	// changed since it was read (a dataset was queued meanwhile) is left as
	// it is.
	Reschedule(ctx context.Context, s ScheduledSync, next time.Time) error
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
