package api

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

var (
	nightsBody = map[string]any{"timeZone": "Europe/London", "windows": []map[string]any{
		{"days": []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, "start": "19:00", "end": "07:00"},
	}}
	anyTimeBody = map[string]any{"timeZone": "UTC", "windows": []any{}}
)

// TestSyncWindowLevels sets, reads and removes the window at the three
// levels: each GET answers the narrowest window set, whole, and says
// where it comes from.
func TestSyncWindowLevels(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	connPath := "/companies/" + co + "/connections/" + conn.ID + "/syncWindow"
	get := func(path, wantFrom, wantZone string) {
		t.Helper()
		var v syncWindowView
		body := e.must(200, "GET", path, nil, &v)
		checkSchema(t, "SyncWindow", body)
		if v.AppliesFrom != "" && string(v.AppliesFrom) != wantFrom || v.TimeZone != wantZone || v.Windows == nil {
			t.Errorf("GET %s = %s; want from %s in %s", path, body, wantFrom, wantZone)
		}
	}
	get("/profile/syncWindow", "none", "UTC")
	get(connPath, "none", "UTC")
	body := e.must(200, "PUT", "/profile/syncWindow", nightsBody, nil)
	checkSchema(t, "SyncWindow", body)
	get("/profile/syncWindow", "client", "Europe/London")
	get("/companies/"+co+"/syncWindow", "client", "Europe/London")
	get(connPath, "client", "Europe/London")
	e.must(200, "PUT", "/companies/"+co+"/syncWindow", map[string]any{"timeZone": "Europe/Paris", "windows": []any{}}, nil)
	get(connPath, "company", "Europe/Paris")
	// A GET's answer goes back as it is (appliesFrom is ignored).
	var v syncWindowView
	e.must(200, "GET", "/profile/syncWindow", nil, &v)
	e.must(200, "PUT", connPath, v, nil)
	get(connPath, "connection", "Europe/London")
	e.must(200, "DELETE", connPath, nil, nil)
	get(connPath, "company", "Europe/Paris")
	e.must(200, "DELETE", "/companies/"+co+"/syncWindow", nil, nil)
	get(connPath, "client", "Europe/London")
	e.must(200, "DELETE", "/profile/syncWindow", nil, nil)
	get(connPath, "none", "UTC")
}

// TestSyncWindowSpans: a window of several spans (one crossing midnight,
// one of a whole day) is kept whole and in order; MaxWindows spans are
// accepted and one more is refused naming windows; a bad field in a
// later span is named with its index.
func TestSyncWindowSpans(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	path := "/companies/" + co + "/connections/" + conn.ID + "/syncWindow"
	spans := []store.Window{
		{Days: []string{"Mon", "Tue"}, Start: "19:00", End: "07:00"},
		{Days: []string{"Sat"}, Start: "00:00", End: "00:00"},
		{Days: []string{"Sun"}, Start: "10:00", End: "12:30"},
	}
	var got syncWindowView
	e.must(200, "PUT", path, map[string]any{"timeZone": "America/New_York", "windows": spans}, &got)
	if got.AppliesFrom != store.WindowOfConnection || !reflect.DeepEqual(got.Windows, spans) {
		t.Errorf("PUT answered %+v, want the three spans in order", got)
	}
	got = syncWindowView{}
	e.must(200, "GET", path, nil, &got)
	if !reflect.DeepEqual(got.Windows, spans) {
		t.Errorf("GET %+v, want the three spans in order", got.Windows)
	}
	many := make([]store.Window, rules.MaxWindows+1)
	for i := range many {
		many[i] = store.Window{Days: []string{"Mon"}, Start: fmt.Sprintf("%02d:00", i%24), End: fmt.Sprintf("%02d:30", i%24)}
	}
	e.must(200, "PUT", path, map[string]any{"timeZone": "UTC", "windows": many[:rules.MaxWindows]}, nil)
	status, out := e.call("PUT", path, map[string]any{"timeZone": "UTC", "windows": many})
	e.apiError(status, out, 400, CodeInvalidField, "windows")
	bad := slices.Clone(spans)
	bad[2].End = "12:61"
	status, out = e.call("PUT", path, map[string]any{"timeZone": "UTC", "windows": bad})
	e.apiError(status, out, 400, CodeInvalidField, "windows[2].end")
	got = syncWindowView{}
	e.must(200, "GET", path, nil, &got)
	if len(got.Windows) != rules.MaxWindows {
		t.Errorf("after the refusals the window has %d spans, want the %d set", len(got.Windows), rules.MaxWindows)
	}
}

// TestSyncWindowRefusals: bad zones, times and days are 400 naming the
// field; the callers that may not set a window are refused and change
// nothing.
func TestSyncWindowRefusals(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	other := e.company("Other")
	support := e.supportKeyOf()
	var revoked apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "gone", "scope": "client"}, &revoked)
	e.must(204, "DELETE", "/apiKeys/"+revoked.ID, nil, nil)
	paths := []string{"/profile/syncWindow", "/companies/" + co + "/syncWindow", "/companies/" + co + "/connections/" + conn.ID + "/syncWindow"}
	span := func(days any, start, end string) map[string]any {
		return map[string]any{"timeZone": "UTC", "windows": []map[string]any{{"days": days, "start": start, "end": end}}}
	}
	bad := []struct {
		name    string
		body    any
		status  int
		code    int
		mention string
	}{
		{"unknown zone", map[string]any{"timeZone": "Mars/Olympus", "windows": []any{}}, 400, CodeInvalidField, "timeZone"},
		{"empty zone", map[string]any{"timeZone": "", "windows": []any{}}, 400, CodeInvalidField, "timeZone"},
		{"Local", map[string]any{"timeZone": "Local", "windows": []any{}}, 400, CodeInvalidField, "timeZone"},
		{"no zone", map[string]any{"windows": []any{}}, 400, CodeInvalidField, "timeZone"},
		{"no windows", map[string]any{"timeZone": "UTC"}, 400, CodeInvalidField, "windows"},
		{"bad day", span([]string{"Mon", "Funday"}, "19:00", "07:00"), 400, CodeInvalidField, "windows[0].days[1]"},
		{"no days", span([]string{}, "19:00", "07:00"), 400, CodeInvalidField, "windows[0].days"},
		{"bad start", span([]string{"Mon"}, "7pm", "07:00"), 400, CodeInvalidField, "windows[0].start"},
		{"bad end", span([]string{"Mon"}, "19:00", "25:00"), 400, CodeInvalidField, "windows[0].end"},
		{"days not a list", span("Mon", "19:00", "07:00"), 400, CodeBadJSON, "days"},
		{"unknown field", map[string]any{"timeZone": "UTC", "windows": []any{}, "paused": true}, 400, CodeBadJSON, "paused"},
		{"empty body", "", 400, CodeBadJSON, "empty"},
		{"huge body", `{"timeZone":"` + strings.Repeat("x", maxBody) + `","windows":[]}`, 413, CodeBodyTooLarge, ""},
	}
	for _, path := range paths {
		for _, tt := range bad {
			status, out := e.call("PUT", path, tt.body)
			e.apiError(status, out, tt.status, tt.code, tt.mention)
		}
		for _, m := range []string{"PUT", "DELETE"} {
			status, out := e.callWith(support, m, path, nightsBody)
			e.apiError(status, out, 403, CodeForbidden)
			status, out = e.callWith(basic(revoked.APIKey), m, path, nightsBody)
			e.apiError(status, out, 401, CodeUnauthorized)
		}
		status, out := e.callWith(basic(revoked.APIKey), "GET", path, nil)
		e.apiError(status, out, 401, CodeUnauthorized)
		e.must(200, "GET", path, nil, nil)
	}
	// Another company's path to the connection, or one that does not exist.
	for _, path := range []string{"/companies/" + other + "/connections/" + conn.ID + "/syncWindow", "/companies/nope/syncWindow", "/companies/" + co + "/connections/nope/syncWindow"} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			status, out := e.call(m, path, nightsBody)
			e.apiError(status, out, 404, CodeNotFound)
		}
	}
	var v syncWindowView
	e.must(200, "GET", paths[2], nil, &v)
	if v.AppliesFrom != "none" {
		t.Errorf("after the refusals the window is %+v, want none set", v)
	}
}

// TestPauseResume: pause shows on the connection with its time and holds
// a queued dataset (its statusDescription says so); resume clears both.
// Only a client key on the connection's own company may do either.
func TestPauseResume(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")
	other := e.company("Other")
	support := e.supportKeyOf()
	base := "/companies/" + co + "/connections/" + conn.ID
	var revoked apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "gone", "scope": "client"}, &revoked)
	e.must(204, "DELETE", "/apiKeys/"+revoked.ID, nil, nil)
	for _, m := range []string{"pause", "resume"} {
		e.apiError2(support, "POST", base+"/"+m, 403, CodeForbidden)
		e.apiError2(basic(revoked.APIKey), "POST", base+"/"+m, 401, CodeUnauthorized)
		e.apiError2("Bearer "+adminKey, "POST", "/companies/"+other+"/connections/"+conn.ID+"/"+m, 404, CodeNotFound)
		e.apiError2("Bearer "+adminKey, "POST", base+"x/"+m, 404, CodeNotFound)
	}
	var c connectionView
	e.must(200, "GET", base, nil, &c)
	if c.Paused {
		t.Fatalf("the refused calls paused the connection: %+v", c)
	}
	op := e.queue(co, dataset.Invoices)
	body := e.must(200, "POST", base+"/pause", nil, &c)
	checkSchema(t, "Connection", body)
	pausedAt := e.clock.Now()
	if !c.Paused || c.PausedSince != apiTime(pausedAt) {
		t.Errorf("after pause: paused %v since %q, want true since %s", c.Paused, c.PausedSince, apiTime(pausedAt))
	}
	e.clock.Add(time.Minute)
	e.must(200, "POST", base+"/pause", nil, &c) // again: keeps the first time
	if c.PausedSince != apiTime(pausedAt) {
		t.Errorf("paused again: since %q, want the first %s", c.PausedSince, apiTime(pausedAt))
	}
	var got pullOperation
	e.must(200, "GET", "/companies/"+co+"/data/history/"+op.ID, nil, &got)
	if got.Status != dataset.Queued || !strings.Contains(got.StatusDescription, "paused") {
		t.Errorf("queued while paused: %s %q, want Queued saying paused", got.Status, got.StatusDescription)
	}
	c = connectionView{}
	body = e.must(200, "POST", base+"/resume", nil, &c)
	checkSchema(t, "Connection", body)
	if c.Paused || c.PausedSince != "" || strings.Contains(string(body), "pausedSince") {
		t.Errorf("after resume: %s", body)
	}
	got = pullOperation{}
	e.must(200, "GET", "/companies/"+co+"/data/history/"+op.ID, nil, &got)
	if strings.Contains(got.StatusDescription, "paused") {
		t.Errorf("after resume the dataset says %q", got.StatusDescription)
	}
}

// TestHeldStatusDescription: a dataset queued outside its window says
// when the window opens, in UTC and in the window's zone, in the queue
// call's answer, the history list and the dataset.
func TestHeldStatusDescription(t *testing.T) {
	e := newEnv(t) // Sunday 1 March 2026, 09:00 UTC
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")
	e.must(200, "PUT", "/companies/"+co+"/syncWindow", nightsBody, nil)
	const want = "Waiting for the company's sync window, which opens at 2026-03-02T19:00:00Z (Mon 19:00 Europe/London)"
	op := e.queue(co, dataset.Invoices)
	if op.StatusDescription != want {
		t.Errorf("queue answer says %q, want %q", op.StatusDescription, want)
	}
	var list struct {
		Results []pullOperation `json:"results"`
	}
	e.must(200, "GET", "/companies/"+co+"/data/history", nil, &list)
	if len(list.Results) != 1 || list.Results[0].StatusDescription != want {
		t.Errorf("history: %+v", list.Results)
	}
	e.must(200, "PUT", "/companies/"+co+"/connections/"+conn.ID+"/syncWindow", anyTimeBody, nil)
	var got pullOperation
	e.must(200, "GET", "/companies/"+co+"/data/history/"+op.ID, nil, &got)
	if got.StatusDescription != "" {
		t.Errorf("inside the connection's own window it says %q", got.StatusDescription)
	}
}
