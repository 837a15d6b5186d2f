package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Sync settings and the schedule
//
// The client's settings are the row 'profile' of settings, a company's its
// row of company_settings, both as set. The schedule has one row per
// (connection, data type) in schedules, its due time null when none is
// armed; the scheduler reads the index on due up to now. Every dataset
// queued re-arms its pair's entry in the same transaction (scheduleQueued),
// so a crash can neither lose nor double a due sync.

// rearmBatch is how many connections one transaction of rearmAll re-arms.
const rearmBatch = 500

// profileSettings is the client's settings, every type filled in.
func profileSettings(ctx context.Context, t *tx) ([]store.SyncSetting, error) {
	set, err := getDoc[[]store.SyncSetting](ctx, t, "SELECT doc FROM settings WHERE name = 'profile'")
	if err != nil && !errNoRows(err) {
		return nil, err
	}
	return rules.MergeSettings(nil, set), nil
}

// companySettings is the company's settings as set; ok is false when none
// were.
func companySettings(ctx context.Context, t *tx, co string) (store.CompanySyncSettings, bool, error) {
	cs, err := getDoc[store.CompanySyncSettings](ctx, t, "SELECT doc FROM company_settings WHERE company_id = $1", co)
	if errNoRows(err) {
		return store.CompanySyncSettings{}, false, nil
	}
	return cs, err == nil, err
}

// effectiveSettings are the settings in force for a company.
func effectiveSettings(ctx context.Context, t *tx, co string) ([]store.SyncSetting, error) {
	profile, err := profileSettings(ctx, t)
	if err != nil {
		return nil, err
	}
	cs, own, err := companySettings(ctx, t, co)
	if err != nil {
		return nil, err
	}
	return rules.EffectiveSettings(profile, cs, own), nil
}

func (p *PG) ProfileSyncSettings(ctx context.Context) ([]store.SyncSetting, error) {
	var out []store.SyncSetting
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = profileSettings(ctx, t)
		return err
	})
	return out, err
}

func (p *PG) SetProfileSyncSettings(ctx context.Context, list []store.SyncSetting) error {
	if err := store.CheckSyncSettings(list); err != nil {
		return err
	}
	var moved []dataset.DataType
	err := p.update(ctx, func(t *tx) error {
		cur, err := profileSettings(ctx, t)
		if err != nil {
			return err
		}
		next := rules.MergeSettings(cur, list)
		moved = rules.MovedSchedules(cur, next)
		doc, err := jsonDoc(next)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, `INSERT INTO settings (name, doc) VALUES ('profile', $1)
			ON CONFLICT (name) DO UPDATE SET doc = excluded.doc`, doc)
		return err
	})
	if err != nil || len(moved) == 0 {
		return err
	}
	return p.rearmAll(ctx, moved)
}

func (p *PG) CompanySyncSettings(ctx context.Context, companyID string) (store.CompanySyncSettings, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return store.CompanySyncSettings{}, err
	}
	var out store.CompanySyncSettings
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		cs, ok, err := companySettings(ctx, t, companyID)
		if err != nil {
			return err
		}
		profile, err := profileSettings(ctx, t)
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

func (p *PG) SetCompanySyncSettings(ctx context.Context, s store.CompanySyncSettings) error {
	if err := rules.LookupIDs("company", s.CompanyID); err != nil {
		return err
	}
	if err := store.CheckSyncSettings(s.Settings); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, s.CompanyID); err != nil {
			return err
		}
		cur, _, err := companySettings(ctx, t, s.CompanyID)
		if err != nil {
			return err
		}
		base := cur.Settings
		if base == nil {
			if base, err = profileSettings(ctx, t); err != nil {
				return err
			}
		}
		s := s
		s.Settings = rules.MergeSettings(base, s.Settings)
		doc, err := jsonDoc(s)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, `INSERT INTO company_settings (company_id, doc) VALUES ($1, $2)
			ON CONFLICT (company_id) DO UPDATE SET doc = excluded.doc`, s.CompanyID, doc)
		if err != nil {
			return err
		}
		conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE company_id = $1 ORDER BY id", s.CompanyID)
		if err != nil {
			return err
		}
		settings, err := effectiveSettings(ctx, t, s.CompanyID)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if err := rearmConnection(ctx, t, c.ID, settings, c.Status == store.Linked); err != nil {
				return err
			}
		}
		return nil
	})
}

func (p *PG) EffectiveSyncSettings(ctx context.Context, companyID string) ([]store.SyncSetting, error) {
	if err := rules.LookupIDs("company", companyID); err != nil {
		return nil, err
	}
	var out []store.SyncSetting
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = effectiveSettings(ctx, t, companyID)
		return err
	})
	return out, err
}

// armSchedule writes the pair's entry s, replacing the entry it had. Every
// write of an entry goes through it.
func armSchedule(ctx context.Context, t *tx, s store.ScheduledSync) error {
	old, err := getDoc[store.ScheduledSync](ctx, t, "SELECT doc FROM schedules WHERE connection_id = $1 AND data_type = $2",
		s.ConnectionID, string(s.DataType))
	if err != nil && !errNoRows(err) {
		return err
	}
	if err == nil && rules.SameEntry(old, s) {
		return nil // unchanged: a settings change writes only what moves
	}
	s.Requested, s.Due = s.Requested.UTC(), s.Due.UTC()
	doc, err := jsonDoc(s)
	if err != nil {
		return err
	}
	var due *time.Time
	if !s.Due.IsZero() {
		due = &s.Due
	}
	_, err = t.Exec(ctx, `INSERT INTO schedules (connection_id, data_type, due, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection_id, data_type) DO UPDATE SET due = excluded.due, doc = excluded.doc`,
		s.ConnectionID, string(s.DataType), due, doc)
	if err != nil {
		return err
	}
	t.change.ArmSync(s.Due)
	return nil
}

// scheduleQueued re-arms the schedule of a dataset just queued. A dataset
// whose connection is gone has no schedule to keep.
func scheduleQueued(ctx context.Context, t *tx, d *store.Dataset) error {
	settings, err := effectiveSettings(ctx, t, d.CompanyID)
	if err != nil {
		return err
	}
	c, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
	if err != nil || c == nil {
		return err
	}
	return armSchedule(ctx, t, rules.QueuedSchedule(*d, settings, c.Status == store.Linked))
}

// rearmConnection re-arms every pair of a connection that has a schedule
// entry, by settings; linked false disarms them.
func rearmConnection(ctx context.Context, t *tx, conn string, settings []store.SyncSetting, linked bool) error {
	entries, err := listDocs[store.ScheduledSync](ctx, t, "SELECT doc FROM schedules WHERE connection_id = $1 ORDER BY data_type", conn)
	if err != nil {
		return err
	}
	for _, s := range entries {
		if err := armSchedule(ctx, t, rules.Arm(s, settings, linked)); err != nil {
			return err
		}
	}
	return nil
}

// rearmAll moves the schedule entries of the types whose schedule the
// client changed, on every connection that follows the client's settings,
// rearmBatch connections per transaction.
func (p *PG) rearmAll(ctx context.Context, types []dataset.DataType) error {
	after := ""
	for {
		var last string
		n := 0
		err := p.update(ctx, func(t *tx) error {
			conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE id > $1 ORDER BY id LIMIT $2", after, rearmBatch)
			if err != nil || len(conns) == 0 {
				n = 0
				return err
			}
			n, last = len(conns), conns[len(conns)-1].ID
			return rearmConnections(ctx, t, conns, types)
		})
		if err != nil {
			return fmt.Errorf("re-arm schedules: %w", err)
		}
		if n < rearmBatch {
			return nil
		}
		after = last
	}
}

// rearmConnections re-arms the pairs of types on the connections conns that
// follow the client's settings.
func rearmConnections(ctx context.Context, t *tx, conns []store.Connection, types []dataset.DataType) error {
	lists := map[string][]store.SyncSetting{} // nil: the company overrides the client's
	for _, c := range conns {
		settings, ok := lists[c.CompanyID]
		if !ok {
			cs, own, err := companySettings(ctx, t, c.CompanyID)
			if err != nil {
				return err
			}
			if !rules.Overrides(cs, own) {
				if settings, err = effectiveSettings(ctx, t, c.CompanyID); err != nil {
					return err
				}
			}
			lists[c.CompanyID] = settings
		}
		if settings == nil {
			continue
		}
		for _, dt := range types {
			sp, err := getDoc[store.ScheduledSync](ctx, t, "SELECT doc FROM schedules WHERE connection_id = $1 AND data_type = $2", c.ID, string(dt))
			if errNoRows(err) {
				continue
			}
			if err != nil {
				return err
			}
			if err := armSchedule(ctx, t, rules.Arm(sp, settings, c.Status == store.Linked)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *PG) DueSyncs(ctx context.Context, now time.Time, limit int) ([]store.ScheduledSync, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []store.ScheduledSync
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.ScheduledSync](ctx, t, `SELECT doc FROM schedules WHERE due IS NOT NULL AND due <= $1
			ORDER BY due, connection_id, data_type LIMIT $2`, now.UTC(), limit)
		return err
	})
	return out, err
}

func (p *PG) Reschedule(ctx context.Context, s store.ScheduledSync, next time.Time) error {
	if err := rules.LookupIDs("company", s.CompanyID, "connection", s.ConnectionID); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		cur, err := getDoc[store.ScheduledSync](ctx, t, "SELECT doc FROM schedules WHERE connection_id = $1 AND data_type = $2",
			s.ConnectionID, string(s.DataType))
		if errNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		moved, ok := rules.Reschedule(cur, s, next)
		if !ok {
			return nil // a dataset was queued meanwhile
		}
		return armSchedule(ctx, t, moved)
	})
}

// connectionScheduled arms a connection's schedule when it becomes Linked
// and disarms it when it stops being Linked, so that the scheduler never
// reads the entries of connections it would not queue on.
func connectionScheduled(ctx context.Context, t *tx, old *store.Connection, c store.Connection) error {
	if !rules.Rearms(old, c) {
		return nil
	}
	settings, err := effectiveSettings(ctx, t, c.CompanyID)
	if err != nil {
		return err
	}
	return rearmConnection(ctx, t, c.ID, settings, c.Status == store.Linked)
}
