package api

import (
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func settingOf(t *testing.T, list []store.SyncSetting, dt dataset.DataType) store.SyncSetting {
	t.Helper()
	for _, s := range list {
		if s.DataType == dt {
			return s
		}
	}
	t.Fatalf("no setting for %s in %v", dt, list)
	return store.SyncSetting{}
}

func TestProfileSyncSettings(t *testing.T) {
	e := newEnv(t)
	var got syncSettingsView
	body := e.must(200, "GET", "/profile/syncSettings", nil, &got)
	checkSchema(t, "SyncSettings", body)
	if len(got.Settings) != len(dataset.DataTypes) || got.ClientID == "" {
		t.Fatalf("default settings: %s", body)
	}
	if s := settingOf(t, got.Settings, dataset.Invoices); !s.FetchOnFirstLink || s.SyncSchedule != 24 {
		t.Errorf("default invoices setting: %+v", s)
	}
	e.must(204, "POST", "/profile/syncSettings", map[string]any{
		"clientId": got.ClientID, "overridesDefaults": true,
		"settings": []map[string]any{{
			"dataType": "invoices", "fetchOnFirstLink": false, "syncSchedule": 6, "syncOrder": 2,
			"isLocked": true, "syncFromWindow": 24,
		}},
	}, nil)
	e.must(200, "GET", "/profile/syncSettings", nil, &got)
	if s := settingOf(t, got.Settings, dataset.Invoices); s.FetchOnFirstLink || s.SyncSchedule != 6 || !s.IsLocked {
		t.Errorf("invoices after POST: %+v", s)
	}
	if s := settingOf(t, got.Settings, dataset.Bills); s.SyncSchedule != 24 {
		t.Errorf("bills, not in the POST, changed: %+v", s)
	}

	bad := []struct {
		name string
		body any
	}{
		{"unknown type", map[string]any{"settings": []map[string]any{{"dataType": "items", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0}}}},
		{"negative schedule", map[string]any{"settings": []map[string]any{{"dataType": "bills", "fetchOnFirstLink": true, "syncSchedule": -1, "syncOrder": 0}}}},
		{"missing field", map[string]any{"settings": []map[string]any{{"dataType": "bills"}}}},
		{"no settings", map[string]any{"overridesDefaults": true}},
		{"twice", map[string]any{"settings": []map[string]any{
			{"dataType": "bills", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0},
			{"dataType": "bills", "fetchOnFirstLink": true, "syncSchedule": 2, "syncOrder": 0}}}},
	}
	for _, b := range bad {
		status, out := e.call("POST", "/profile/syncSettings", b.body)
		e.apiError(status, out, 400, CodeInvalidField)
	}
}

func TestCompanySyncSettings(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	var got syncSettingsView
	body := e.must(200, "GET", "/companies/"+co+"/syncSettings", nil, &got)
	checkSchema(t, "CompanySyncSettings", body)
	if got.CompanyID != co || got.OverridesDefaults || len(got.Settings) != len(dataset.DataTypes) {
		t.Fatalf("company settings before any are set: %s", body)
	}
	e.must(204, "POST", "/companies/"+co+"/syncSettings", map[string]any{
		"companyId": co,
		"settings":  []map[string]any{{"dataType": "bills", "fetchOnFirstLink": false, "syncSchedule": 1, "syncOrder": 9}},
	}, nil)
	e.must(200, "GET", "/companies/"+co+"/syncSettings", nil, &got)
	if s := settingOf(t, got.Settings, dataset.Bills); !got.OverridesDefaults || s.SyncSchedule != 1 || s.FetchOnFirstLink {
		t.Errorf("company bills after POST: %+v (overrides %v)", s, got.OverridesDefaults)
	}
	// queue all follows the company's settings: bills is not fetched.
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")
	e.must(204, "POST", "/companies/"+co+"/data/all", nil, nil)
	ds, err := e.st.Datasets(t.Context(), co)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.DataType == dataset.Bills {
			t.Errorf("queue all queued bills, which the company's settings do not fetch")
		}
		if d.DataType == dataset.Bills || d.SyncOrder != settingOf(t, got.Settings, d.DataType).SyncOrder {
			t.Errorf("%s queued with order %d", d.DataType, d.SyncOrder)
		}
	}
	if len(ds) != len(dataset.DataTypes)-1 {
		t.Errorf("queue all queued %d types, want %d", len(ds), len(dataset.DataTypes)-1)
	}

	// A type the client locked cannot be changed by a company.
	e.must(204, "POST", "/profile/syncSettings", map[string]any{"settings": []map[string]any{
		{"dataType": "invoices", "fetchOnFirstLink": true, "syncSchedule": 12, "syncOrder": 5, "isLocked": true}}}, nil)
	status, out := e.call("POST", "/companies/"+co+"/syncSettings", map[string]any{"settings": []map[string]any{
		{"dataType": "invoices", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 5}}})
	e.apiError(status, out, 400, CodeInvalidField, "locked")
	status, out = e.call("POST", "/companies/"+co+"/syncSettings", map[string]any{"companyId": "other",
		"settings": []map[string]any{}})
	e.apiError(status, out, 400, CodeInvalidField)
	status, out = e.call("GET", "/companies/no-such-company/syncSettings", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("POST", "/companies/no-such-company/syncSettings", map[string]any{"settings": []map[string]any{}})
	e.apiError(status, out, 404, CodeNotFound)
}
