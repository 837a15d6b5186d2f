package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/json"
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
	return store.MergeSettings(nil, set), nil
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
	cs, ok, err := companySettings(txn, co)
	if err != nil || !ok || !cs.OverridesDefaults {
		return profile, err
	}
	return store.MergeSettings(profile, cs.Settings), nil
}

func scheduleOf(list []store.SyncSetting, t dataset.DataType) int {
	for _, s := range list {
		if s.DataType == t {
			return s.SyncSchedule
		}
	}
	return 0
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
		next := store.MergeSettings(cur, list)
		moved = moved[:0]
		for i := range next {
			if next[i].SyncSchedule != cur[i].SyncSchedule {
				moved = append(moved, next[i].DataType)
			}
		}
		return setJSON(txn, profileSettingsKey(), next)
	})
	if err != nil || len(moved) == 0 {
		return err
	}
	return b.rearmAll(ctx, moved)
}

func (b *Badger) CompanySyncSettings(ctx context.Context, companyID string) (store.CompanySyncSettings, error) {
	if err := lookupIDs("company", companyID); err != nil {
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
			out.Settings, out.OverridesDefaults = store.MergeSettings(profile, cs.Settings), cs.OverridesDefaults
		}
		return nil
	})
	return out, err
}

func (b *Badger) SetCompanySyncSettings(ctx context.Context, s store.CompanySyncSettings) error {
	if err := lookupIDs("company", s.CompanyID); err != nil {
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
		s.Settings = store.MergeSettings(base, s.Settings)
		if err := setJSON(txn, companySettingsKey(s.CompanyID), s); err != nil {
			return err
		}
		_, vals, err := scanKeys(txn, prefix("c", s.CompanyID, "conn"), 0)
		if err != nil {
			return err
		}
		list, err := effectiveSettings(txn, s.CompanyID)
		if err != nil {
			return err
		}
		for _, v := range vals {
			var c store.Connection
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			if err := rearmConnection(txn, c.ID, list, c.Status == store.Linked); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *Badger) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	if err := lookupIDs("company", companyID); err != nil {
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

// armSchedule points the pair's entry at requested + hours (none when hours
// is 0 or armed is false), replacing the entry it had.
func armSchedule(txn *tx, s store.ScheduledSync, hours int, armed bool) error {
	pk := schedPointerKey(s.ConnectionID, s.DataType)
	var old store.ScheduledSync
	err := getJSON(txn, pk, &old)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	s.Due = time.Time{}
	if hours > 0 && armed {
		s.Due = s.Requested.Add(time.Duration(hours) * time.Hour)
	}
	if err == nil && old.Due.Equal(s.Due) && old.Requested.Equal(s.Requested) && old.CompanyID == s.CompanyID {
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
	txn.recordSync(s.Due)
	return setJSON(txn, pk, s)
}

// scheduleQueued re-arms the schedule of a dataset just queued.
func scheduleQueued(txn *tx, d *store.Dataset) error {
	list, err := effectiveSettings(txn, d.CompanyID)
	if err != nil {
		return err
	}
	var c store.Connection
	err = getJSON(txn, connKey(d.CompanyID, d.ConnectionID), &c)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	s := store.ScheduledSync{CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType, Requested: d.Requested}
	return armSchedule(txn, s, scheduleOf(list, d.DataType), c.Status == store.Linked)
}

// rearmConnection re-arms every pair of a connection that has a schedule
// entry, by list; armed false disarms them (a connection not Linked).
func rearmConnection(txn *tx, conn string, list []store.SyncSetting, armed bool) error {
	_, vals, err := scanKeys(txn, schedPointerPrefix(conn), 0)
	if err != nil {
		return err
	}
	for _, v := range vals {
		var s store.ScheduledSync
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if err := armSchedule(txn, s, scheduleOf(list, s.DataType), armed); err != nil {
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
		list, ok := lists[cos[i]]
		if !ok {
			cs, own, err := companySettings(txn, cos[i])
			if err != nil {
				return err
			}
			if !own || !cs.OverridesDefaults {
				if list, err = effectiveSettings(txn, cos[i]); err != nil {
					return err
				}
			}
			lists[cos[i]] = list
		}
		if list == nil {
			continue
		}
		var c store.Connection
		err := getJSON(txn, connKey(cos[i], conn), &c)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
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
			if err := armSchedule(txn, sp, scheduleOf(list, t), c.Status == store.Linked); err != nil {
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
	end := []byte("sc/" + timeHex(now) + "/\xff")
	var out []store.ScheduledSync
	err := b.view(ctx, func(txn *tx) error {
		p := []byte("sc/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		var keys [][]byte
		for it.Seek(p); it.ValidForPrefix(p) && len(keys) < limit; it.Next() {
			k := it.Item().KeyCopy(nil)
			if string(k) > string(end) {
				break
			}
			keys = append(keys, k)
		}
		it.Close()
		for _, k := range keys {
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
	if err := lookupIDs("company", s.CompanyID, "connection", s.ConnectionID); err != nil {
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
		if !cur.Due.Equal(s.Due) || !cur.Requested.Equal(s.Requested) {
			return nil // a dataset was queued meanwhile
		}
		if !cur.Due.IsZero() {
			if err := txn.Delete(schedKey(cur.Due, cur.ConnectionID, cur.DataType)); err != nil {
				return err
			}
		}
		cur.Due = next.UTC()
		if !next.IsZero() {
			if err := txn.Set(schedKey(cur.Due, cur.ConnectionID, cur.DataType), []byte(cur.CompanyID)); err != nil {
				return err
			}
		}
		return setJSON(txn, schedPointerKey(s.ConnectionID, s.DataType), cur)
	})
}

// splitKey is k's segments.
func splitKey(k []byte) []string { return strings.Split(string(k), "/") }

// connectionScheduled arms a connection's schedule when it becomes Linked
// and disarms it when it stops being Linked, so that the scheduler never
// reads the entries of connections it would not queue on.
func connectionScheduled(txn *tx, old *store.Connection, c store.Connection) error {
	was := old != nil && old.Status == store.Linked
	if was == (c.Status == store.Linked) {
		return nil
	}
	list, err := effectiveSettings(txn, c.CompanyID)
	if err != nil {
		return err
	}
	return rearmConnection(txn, c.ID, list, c.Status == store.Linked)
}

// deleteSchedule removes a connection's schedule entries and pointers.
func deleteSchedule(txn *tx, conn string) error {
	keys, vals, err := scanKeys(txn, schedPointerPrefix(conn), 0)
	if err != nil {
		return err
	}
	for i, v := range vals {
		var s store.ScheduledSync
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if !s.Due.IsZero() {
			if err := txn.Delete(schedKey(s.Due, s.ConnectionID, s.DataType)); err != nil {
				return err
			}
		}
		if err := txn.Delete(keys[i]); err != nil {
			return err
		}
	}
	return nil
}
