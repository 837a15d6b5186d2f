package storetest

import (
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// SettingsTests are the conformance tests of SettingsStore, run by Run.
var settingsTests = []struct {
	name string
	run  func(*fixture)
}{
	{"SyncSettings", testSyncSettings},
	{"ScheduleArmedByQueue", testScheduleArmedByQueue},
	{"ScheduleFollowsLink", testScheduleFollowsLink},
	{"ScheduleFollowsSettings", testScheduleFollowsSettings},
	{"Reschedule", testReschedule},
}

func hours(n int) int { return n * 3600 }

// dueAt returns the entries due at(sec), as "conn/type" strings.
func (f *fixture) dueAt(sec int) []string {
	f.Helper()
	due, err := f.s.DueSyncs(f.ctx, at(sec), 0)
	noErr(f, "DueSyncs", err)
	out := make([]string, len(due))
	for i, d := range due {
		out[i] = d.ConnectionID + "/" + string(d.DataType)
	}
	return out
}

func testSyncSettings(f *fixture) {
	got, err := f.s.ProfileSyncSettings(f.ctx)
	noErr(f, "ProfileSyncSettings", err)
	eq(f, "default settings", len(got), len(dataset.DataTypes))
	noErr(f, "SetProfileSyncSettings", f.s.SetProfileSyncSettings(f.ctx, []store.SyncSetting{
		{DataType: dataset.Invoices, SyncSchedule: 6, SyncOrder: 3},
	}))
	got, _ = f.s.ProfileSyncSettings(f.ctx)
	eq(f, "settings after a partial set", len(got), len(dataset.DataTypes))
	for _, s := range got {
		switch s.DataType {
		case dataset.Invoices:
			eq(f, "invoices schedule", s.SyncSchedule, 6)
			eq(f, "invoices fetchOnFirstLink", s.FetchOnFirstLink, false)
		case dataset.Bills:
			eq(f, "bills schedule (default)", s.SyncSchedule, 24)
		}
	}
	f.company("co-1", 0)
	cs, err := f.s.CompanySyncSettings(f.ctx, "co-1")
	noErr(f, "CompanySyncSettings", err)
	eq(f, "company overrides", cs.OverridesDefaults, false)
	noErr(f, "SetCompanySyncSettings", f.s.SetCompanySyncSettings(f.ctx, store.CompanySyncSettings{
		CompanyID: "co-1", OverridesDefaults: true,
		Settings: []store.SyncSetting{{DataType: dataset.Invoices, SyncSchedule: 1}},
	}))
	eff, err := f.s.EffectiveSyncSettings(f.ctx, "co-1")
	noErr(f, "EffectiveSyncSettings", err)
	for _, s := range eff {
		if s.DataType == dataset.Invoices {
			eq(f, "company's invoices schedule", s.SyncSchedule, 1)
		}
	}
	err = f.s.SetCompanySyncSettings(f.ctx, store.CompanySyncSettings{CompanyID: "missing"})
	wantErr(f, "settings of a missing company", err, store.ErrNotFound)
	bad := []store.SyncSetting{{DataType: "items"}}
	if err := f.s.SetProfileSyncSettings(f.ctx, bad); err == nil {
		f.Errorf("unknown data type: got no error")
	}
	bad = []store.SyncSetting{{DataType: dataset.Bills, SyncSchedule: -1}}
	if err := f.s.SetProfileSyncSettings(f.ctx, bad); err == nil {
		f.Errorf("negative schedule: got no error")
	}
}

func testScheduleArmedByQueue(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 0)
	eq(f, "due before 24 h", len(f.dueAt(hours(24)-1)), 0)
	eq(f, "due at 24 h", fmtList(f.dueAt(hours(24))), "[conn-1/invoices]")
	// A new dataset replaces the entry: one per pair, 24 h after it.
	f.fail("co-1", "ds-1", "agent-1", 10)
	f.queue("co-1", "conn-1", "ds-2", dataset.Invoices, hours(2))
	eq(f, "due at 24 h after a new queue", len(f.dueAt(hours(24))), 0)
	eq(f, "due at 26 h", fmtList(f.dueAt(hours(26))), "[conn-1/invoices]")
}

func testScheduleFollowsLink(f *fixture) {
	f.company("co-1", 0)
	f.connection("co-1", "conn-1", store.PendingAuth, "")
	f.queue("co-1", "conn-1", "ds-1", dataset.Bills, 0)
	eq(f, "due on a PendingAuth connection", len(f.dueAt(hours(48))), 0)
	_, err := f.s.RedeemLinkCode(f.ctx, linkHash("conn-1"), "agent-1", at(60))
	noErr(f, "RedeemLinkCode", err)
	eq(f, "due once Linked", fmtList(f.dueAt(hours(24))), "[conn-1/bills]")
	_, err = f.s.UpdateConnection(f.ctx, "co-1", "conn-1", func(c *store.Connection) error {
		c.Status = store.Unlinked
		return nil
	})
	noErr(f, "UpdateConnection", err)
	eq(f, "due once Unlinked", len(f.dueAt(hours(48))), 0)
	noErr(f, "DeleteConnection", f.s.DeleteConnection(f.ctx, "co-1", "conn-1"))
}

func testScheduleFollowsSettings(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 0)
	noErr(f, "SetProfileSyncSettings", f.s.SetProfileSyncSettings(f.ctx, []store.SyncSetting{
		{DataType: dataset.Invoices, SyncSchedule: 2},
	}))
	eq(f, "due at 2 h after the client's change", fmtList(f.dueAt(hours(2))), "[conn-1/invoices]")
	noErr(f, "SetCompanySyncSettings", f.s.SetCompanySyncSettings(f.ctx, store.CompanySyncSettings{
		CompanyID: "co-1", OverridesDefaults: true,
		Settings: []store.SyncSetting{{DataType: dataset.Invoices, SyncSchedule: 0}},
	}))
	eq(f, "due with schedule 0", len(f.dueAt(hours(100))), 0)
	// The company's own settings hold when the client's change again.
	noErr(f, "SetProfileSyncSettings", f.s.SetProfileSyncSettings(f.ctx, []store.SyncSetting{
		{DataType: dataset.Invoices, SyncSchedule: 3},
	}))
	eq(f, "due after the client's change, the company overriding", len(f.dueAt(hours(100))), 0)
}

func testReschedule(f *fixture) {
	f.linked("co-1", "conn-1", "agent-1")
	f.queue("co-1", "conn-1", "ds-1", dataset.Invoices, 0)
	due, err := f.s.DueSyncs(f.ctx, at(hours(24)), 0)
	noErr(f, "DueSyncs", err)
	if len(due) != 1 {
		f.Fatalf("due: got %v", due)
	}
	eqTime(f, "requested", due[0].Requested, at(0))
	next := at(hours(48))
	noErr(f, "Reschedule", f.s.Reschedule(f.ctx, due[0], next))
	eq(f, "due at 24 h after moving", len(f.dueAt(hours(47))), 0)
	eq(f, "due at 48 h", fmtList(f.dueAt(hours(48))), "[conn-1/invoices]")
	// A stale entry (read before the move) changes nothing.
	noErr(f, "Reschedule stale", f.s.Reschedule(f.ctx, due[0], time.Time{}))
	eq(f, "still due at 48 h", fmtList(f.dueAt(hours(48))), "[conn-1/invoices]")
	due, _ = f.s.DueSyncs(f.ctx, at(hours(48)), 0)
	noErr(f, "Reschedule to none", f.s.Reschedule(f.ctx, due[0], time.Time{}))
	eq(f, "due after removal", len(f.dueAt(hours(1000))), 0)
}
