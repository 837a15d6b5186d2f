package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The keys of sync settings and of the schedule:
//
//	set/profile                    []SyncSetting: the client's settings as set
//	c/<company>/settings           CompanySyncSettings as set
//	sc/<due>/<conn>/<type>         company id: a scheduled sync, by due time
//	scp/<conn>/<type>              ScheduledSync: the entry of the pair
//	                               (Due zero when none is armed)
//
// Every dataset queued re-arms its pair's entry in the same transaction
// (putDataset), so a crash can neither lose nor double a due sync, and the
// scheduler reads only the sc/ keys up to now.

func profileSettingsKey() []byte            { return key("set", "profile") }
func companySettingsKey(co string) []byte   { return key("c", co, "settings") }
func schedPointerPrefix(conn string) []byte { return prefix("scp", conn) }
func schedPointerKey(conn string, t dataset.DataType) []byte {
	return key("scp", conn, string(t))
}
func schedKey(due time.Time, conn string, t dataset.DataType) []byte {
	return key("sc", timeHex(due), conn, string(t))
}

// profileSettings is the client's settings, every type filled in.
func profileSettings(txn *tx) ([]store.SyncSetting, error) {
	var set []store.SyncSetting
	if err := getJSON(txn, profileSettingsKey(), &set); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, err
	}
	return rules.MergeSettings(nil, set), nil
}

// companySettings is the company's settings as set; ok is false when none
// were.
func companySettings(txn *tx, co string) (store.CompanySyncSettings, bool, error) {
	var cs store.CompanySyncSettings
	err := getJSON(txn, companySettingsKey(co), &cs)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.CompanySyncSettings{}, false, nil
	}
	return cs, err == nil, err
}

// effectiveSettings are the settings in force for a company.
func effectiveSettings(txn *tx, co string) ([]store.SyncSetting, error) {
	profile, err := profileSettings(txn)
	if err != nil {
		return nil, err
	}
	cs, own, err := companySettings(txn, co)
	if err != nil {
		return nil, err
	}
	return rules.EffectiveSettings(profile, cs, own), nil
}

func (b *Badger) ProfileSyncSettings(ctx context.Context) ([]store.SyncSetting, error) {
	var out []store.SyncSetting
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = profileSettings(txn)
		return err
	})
	return out, err
}

func (b *Badger) SetProfileSyncSettings(ctx context.Context, list []store.SyncSetting) error {
	if err := store.CheckSyncSettings(list); err != nil {
		return err
	}
	var moved []dataset.DataType
	err := b.update(ctx, func(txn *tx) error {
		cur, err := profileSettings(txn)
		if err != nil {
			return err
		}
		next := rules.MergeSettings(cur, list)
		moved = rules.MovedSchedules(cur, next)
		return setJSON(txn, profileSettingsKey(), next)
	})
	if err != nil || len(moved) == 0 {
		return err
	}
	return b.rearmAll(ctx, moved)
}

func (b *Badger) CompanySyncSettings(ctx context.Context, companyID string) (store.CompanySyncSettings, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return store.CompanySyncSettings{}, err
	}
	var out store.CompanySyncSettings
	err := b.view(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, companyID); err != nil {
			return err
		}
		cs, ok, err := companySettings(txn, companyID)
		if err != nil {
			return err
		}
		profile, err := profileSettings(txn)
		if err != nil {
			return err
		}
		out = store.CompanySyncSettings{CompanyID: companyID, Settings: profile}
		if ok {
			out.Settings, out.OverridesDefaults = rules.MergeSettings(profile, cs.Settings), cs.OverridesDefaults
		}
		return nil
	})
	return out, err
}

func (b *Badger) SetCompanySyncSettings(ctx context.Context, s store.CompanySyncSettings) error {
	if err := rules.LookupIDs("company", s.CompanyID); err != nil {
		return err
	}
	if err := store.CheckSyncSettings(s.Settings); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		if _, err := getCompany(txn, s.CompanyID); err != nil {
			return err
		}
		cur, _, err := companySettings(txn, s.CompanyID)
		if err != nil {
			return err
		}
		base := cur.Settings
		if base == nil {
			if base, err = profileSettings(txn); err != nil {
				return err
			}
		}
		s.Settings = rules.MergeSettings(base, s.Settings)
		if err := setJSON(txn, companySettingsKey(s.CompanyID), s); err != nil {
			return err
		}
		conns, err := listValues[store.Connection](txn, prefix("c", s.CompanyID, "conn"))
		if err != nil {
			return err
		}
		settings, err := effectiveSettings(txn, s.CompanyID)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if err := rearmConnection(txn, c.ID, settings, c.Status == store.Linked); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *Badger) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.SyncSetting
	err := b.view(ctx, func(txn *tx) error {
		var err error
		out, err = effectiveSettings(txn, companyID)
		return err
	})
	return out, err
}

// armSchedule writes the pair's entry s, replacing the entry it had, and
// keeps the index by due time in step. Every write of an entry goes
// through it.
func armSchedule(txn *tx, s store.ScheduledSync) error {
	pk := schedPointerKey(s.ConnectionID, s.DataType)
	var old store.ScheduledSync
	err := getJSON(txn, pk, &old)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	if err == nil && rules.SameEntry(old, s) {
		return nil // unchanged: a settings change writes only what moves
	}
	if err == nil && !old.Due.IsZero() {
		if err := txn.Delete(schedKey(old.Due, old.ConnectionID, old.DataType)); err != nil {
			return err
		}
	}
	if !s.Due.IsZero() {
		if err := txn.Set(schedKey(s.Due, s.ConnectionID, s.DataType), []byte(s.CompanyID)); err != nil {
			return err
		}
	}
	txn.change.ArmSync(s.Due)
	return setJSON(txn, pk, s)
}

// scheduleQueued re-arms the schedule of a dataset just queued.
func scheduleQueued(txn *tx, d *store.Dataset) error {
	settings, err := effectiveSettings(txn, d.CompanyID)
	if err != nil {
		return err
	}
	c, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil {
		return err
	}
	return armSchedule(txn, rules.QueuedSchedule(*d, settings, c != nil && c.Status == store.Linked))
}

// rearmConnection re-arms every pair of a connection that has a schedule
// entry, by settings; linked false disarms them.
func rearmConnection(txn *tx, conn string, settings []store.SyncSetting, linked bool) error {
	entries, err := listValues[store.ScheduledSync](txn, schedPointerPrefix(conn))
	if err != nil {
		return err
	}
	for _, s := range entries {
		if err := armSchedule(txn, rules.Arm(s, settings, linked)); err != nil {
			return err
		}
	}
	return nil
}

// rearmAll moves the schedule entries of the types whose schedule the
// client changed, on every connection that follows the client's settings,
// a batch of 500 connections per transaction.
func (b *Badger) rearmAll(ctx context.Context, types []dataset.DataType) error {
	after := []byte("ci/")
	for {
		var conns, cos []string
		err := b.view(ctx, func(txn *tx) error {
			p := []byte("ci/")
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
			defer it.Close()
			for it.Seek(after); it.ValidForPrefix(p) && len(conns) < 500; it.Next() {
				if string(it.Item().Key()) == string(after) {
					continue
				}
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				conns = append(conns, lastSegment(it.Item().Key()))
				cos = append(cos, string(v))
			}
			return nil
		})
		if err != nil || len(conns) == 0 {
			return err
		}
		err = b.update(ctx, func(txn *tx) error {
			return rearmBatch(txn, conns, cos, types)
		})
		if err != nil {
			return fmt.Errorf("re-arm schedules: %w", err)
		}
		after = connIndexKey(conns[len(conns)-1])
	}
}

// rearmBatch re-arms the pairs of types on the connections conns (of the
// companies cos) that follow the client's settings.
func rearmBatch(txn *tx, conns, cos []string, types []dataset.DataType) error {
	lists := map[string][]store.SyncSetting{} // nil: the company overrides the client's
	for i, conn := range conns {
		settings, ok := lists[cos[i]]
		if !ok {
			cs, own, err := companySettings(txn, cos[i])
			if err != nil {
				return err
			}
			if !rules.Overrides(cs, own) {
				if settings, err = effectiveSettings(txn, cos[i]); err != nil {
					return err
				}
			}
			lists[cos[i]] = settings
		}
		if settings == nil {
			continue
		}
		c, err := findConnection(txn, cos[i], conn)
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		for _, t := range types {
			var sp store.ScheduledSync
			err := getJSON(txn, schedPointerKey(conn, t), &sp)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := armSchedule(txn, rules.Arm(sp, settings, c.Status == store.Linked)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Badger) DueSyncs(ctx context.Context, now time.Time, limit int) ([]store.ScheduledSync, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []store.ScheduledSync
	err := b.view(ctx, func(txn *tx) error {
		for _, k := range dueKeys(txn, "sc", now, limit) {
			parts := splitKey(k)
			var s store.ScheduledSync
			err := getJSON(txn, schedPointerKey(parts[2], dataset.DataType(parts[3])), &s)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

func (b *Badger) Reschedule(ctx context.Context, s store.ScheduledSync, next time.Time) error {
	if err := rules.LookupIDs("company", s.CompanyID, "connection", s.ConnectionID); err != nil {
		return err
	}
	return b.update(ctx, func(txn *tx) error {
		var cur store.ScheduledSync
		err := getJSON(txn, schedPointerKey(s.ConnectionID, s.DataType), &cur)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		moved, ok := rules.Reschedule(cur, s, next)
		if !ok {
			return nil // a dataset was queued meanwhile
		}
		return armSchedule(txn, moved)
	})
}

// splitKey is k's segments.
func splitKey(k []byte) []string { return strings.Split(string(k), "/") }

// connectionScheduled arms a connection's schedule when it becomes Linked
// and disarms it when it stops being Linked, so that the scheduler never
// reads the entries of connections it would not queue on.
func connectionScheduled(txn *tx, old *store.Connection, c store.Connection) error {
	if !rules.Rearms(old, c) {
		return nil
	}
	settings, err := effectiveSettings(txn, c.CompanyID)
	if err != nil {
		return err
	}
	return rearmConnection(txn, c.ID, settings, c.Status == store.Linked)
}

// deleteSchedule removes a connection's schedule entries and pointers.
func deleteSchedule(txn *tx, conn string) error {
	entries, err := listValues[store.ScheduledSync](txn, schedPointerPrefix(conn))
	if err != nil {
		return err
	}
	for _, s := range entries {
		if !s.Due.IsZero() {
			if err := txn.Delete(schedKey(s.Due, s.ConnectionID, s.DataType)); err != nil {
				return err
			}
		}
		if err := txn.Delete(schedPointerKey(s.ConnectionID, s.DataType)); err != nil {
			return err
		}
	}
	return nil
}
