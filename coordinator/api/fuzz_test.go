package api

import (
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"

	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/fleet"
	"github.com/ferry-sync/ferry/coordinator/queue"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// FuzzRequestBodies sends arbitrary bodies to every endpoint that reads one:
// whatever arrives, the answer is a 2xx or a 4xx in the error shape, never a
// 5xx or a crash.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Acme"}`, `{"name":"Acme","description":"x","tags":{"a":"b"}}`, `{"platformKey":"gnucash"}`,
		`{"status":"Unlinked"}`, `{"name":null}`, `{"tags":{"":""}}`, `[]`, `""`, `{"name":"\u0000"}`, `{`,
		`{"settings":[{"dataType":"invoices","fetchOnFirstLink":true,"syncSchedule":6,"syncOrder":1,"isLocked":true}]}`,
		`{"companyId":"co-1","overridesDefaults":false,"settings":[{"dataType":"bills","fetchOnFirstLink":false,"syncSchedule":0,"syncOrder":0}]}`,
		`{"settings":[{"dataType":"x","fetchOnFirstLink":1,"syncSchedule":1e99,"syncOrder":-1}]}`,
		`{"url":"https://hooks.example.com/x","eventTypes":["read.completed"]}`,
		`{"url":"http://[::ffff:10.0.0.1]/","eventTypes":["connection.created"],"disabled":true}`,
		`{"name":"desk","scope":"support"}`, `{"scope":"root"}`,
		"{\"name\":\"Acme\",\"description\":\"\xff\xfe\"}", `{"name":"Acme","description":"\ud800"}`,
		`[{"name":"Acme"}]`, `{"settings":[1]}`, `{"tags":{"\u0000":"x"}}`, `null`,
		`{"timeZone":"Europe/London","windows":[{"days":["Mon","Fri"],"start":"19:00","end":"07:00"}]}`,
		`{"timeZone":"../../etc/passwd","windows":[]}`, `{"timeZone":"UTC","windows":[{"days":[null],"start":"","end":"9"}]}`,
		`{"logLevel":"debug","for":"30m"}`, `{"logLevel":"DEBUG","for":"-1h"}`, `{"logLevel":null,"for":"9999999h"}`,
	} {
		f.Add(seed, uint8(0))
	}
	srv, st := fuzzServer(f)
	co := store.Company{ID: "co-1"}
	conn := store.Connection{ID: "cn-1"}
	targets := []struct{ method, path string }{
		{"POST", "/companies"},
		{"PATCH", "/companies/co-1"},
		{"POST", "/companies/co-1/connections"},
		{"PATCH", "/companies/co-1/connections/cn-1"},
		{"POST", "/profile/syncSettings"},
		{"POST", "/companies/co-1/syncSettings"},
		{"POST", "/webhooks"},
		{"POST", "/apiKeys"},
		{"PUT", "/profile/syncWindow"},
		{"PUT", "/companies/co-1/syncWindow"},
		{"PUT", "/companies/co-1/connections/cn-1/syncWindow"},
		{"PUT", "/companies/co-1"},
		{"PUT", "/profile"},
		{"POST", "/corsSettings"},
		{"PATCH", "/agents/ag-1"},
	}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		tg := targets[int(which)%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", tg.method, tg.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.StatusCode != rec.Code || eb.Error == "" {
				t.Fatalf("%s %s with %q: error body %s", tg.method, tg.path, body, rec.Body)
			}
			if goType.MatchString(eb.Error) {
				t.Fatalf("%s %s with %q: the error names a Go type: %s", tg.method, tg.path, body, eb.Error)
			}
		}
		if tg.path == "/apiKeys" && rec.Code == http.StatusCreated {
			// Keep under the key limit so later inputs reach the same code.
			var k struct{ ID string }
			_ = json.Unmarshal(rec.Body.Bytes(), &k)
			_ = st.DeleteAPIKey(t.Context(), k.ID)
		}
		if tg.method == "PATCH" && tg.path == "/companies/co-1/connections/cn-1" && rec.Code == http.StatusOK {
			// An accepted unlink is the only change this body can make; put
			// the connection back so later inputs see the same state.
			_, _ = st.UpdateConnection(t.Context(), co.ID, conn.ID, func(c *store.Connection) error {
				c.Status = store.PendingAuth
				return nil
			})
		}
	})
}

// goType matches a Go type name in an error: api.companyBody, *string,
// []api.syncSettingBody, map[string]string.
var goType = regexp.MustCompile(`\b(api|store|dataset|queue)\.[a-zA-Z]|\*string|\*int|\*bool|map\[string\]|\[\][a-z*]`)

// fuzzServer is an API over a real Badger store with company co-1 and its
// PendingAuth connection cn-1, and the admin key.
func fuzzServer(f *testing.F) (*Server, *badgerstore.Badger) {
	st, err := badgerstore.Open(f.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	fl := fleet.New(fleet.Config{Store: st, Feed: st.Feed(), Logger: slog.New(slog.DiscardHandler), Now: now})
	srv := New(Config{Store: st, Queuer: queue.New(st), Agents: noAgents{}, Logger: slog.New(slog.DiscardHandler), Now: now, Fleet: fl})
	if err := EnsureKey(f.Context(), st, adminKey, "admin", store.ScopeClient, now()); err != nil {
		f.Fatal(err)
	}
	co := store.Company{ID: "co-1", Name: "Acme", Created: now()}
	conn := store.Connection{ID: "cn-1", CompanyID: co.ID, PlatformKey: "csv", Status: store.PendingAuth, Created: now()}
	if err := st.CreateCompany(f.Context(), co); err != nil {
		f.Fatal(err)
	}
	if err := st.CreateConnection(f.Context(), conn, store.LinkCode{Hash: []byte("h"), CompanyID: co.ID, ConnectionID: conn.ID, Expires: now().Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	return srv, st
}
