package hub

import (
	"slices"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestFirstLinkFollowsSettings: the link exchange queues the types whose
// setting says fetchOnFirstLink (the company's own settings over the
// client's), in their sync order, and no other.
func TestFirstLinkFollowsSettings(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.st.SetProfileSyncSettings(ctx, []store.SyncSetting{
		{DataType: dataset.JournalEntries, FetchOnFirstLink: false, SyncSchedule: 24, SyncOrder: 7},
		{DataType: dataset.Invoices, FetchOnFirstLink: true, SyncSchedule: 24, SyncOrder: 0},
		{DataType: dataset.Company, FetchOnFirstLink: true, SyncSchedule: 24, SyncOrder: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetCompanySyncSettings(ctx, store.CompanySyncSettings{CompanyID: e.co, OverridesDefaults: true,
		Settings: []store.SyncSetting{{DataType: dataset.Bills, FetchOnFirstLink: false, SyncSchedule: 0, SyncOrder: 6}},
	}); err != nil {
		t.Fatal(err)
	}
	conn, _ := e.linked()
	queued, _, err := e.st.QueuedDatasets(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	var got []dataset.DataType
	for _, d := range queued {
		got = append(got, d.DataType)
	}
	if slices.Contains(got, dataset.JournalEntries) || slices.Contains(got, dataset.Bills) {
		t.Errorf("first link queued %v, which includes a type not fetched on first link", got)
	}
	if len(got) != len(dataset.DataTypes)-2 || got[0] != dataset.Invoices {
		t.Errorf("first link queued %v, want the other six, invoices first (sync order 0)", got)
	}
}
