package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/api/paging"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// sortCustomers are n customer records in id order with names that
// repeat (in any case), are null or missing, and balances with ties.
func sortCustomers(n int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{`"Acme"`, `"acme"`, `"Bolt Ltd"`, `"Zed"`, `""`, `null`}
	recs := make([]string, n)
	for i := range recs {
		rec := fmt.Sprintf(`{"id":"cus-%03d","balance":%d.%02d`, i, rng.IntN(4), 10*rng.IntN(3))
		if rng.IntN(7) != 0 {
			rec += `,"customerName":` + names[rng.IntN(len(names))]
		}
		recs[i] = rec + `,"status":"Active"}`
	}
	return recs
}

// A sorted page of the synced data is what a full sort of the cache gives
// (ties in id order), records served exactly as synced, for any order and
// page up to the sort window.
func TestRecordsOrderByMatchesFullSort(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")
	recs := sortCustomers(57)
	e.publish(co, dataset.Customers, recs...)
	byID := map[string]string{}
	decoded := make([]map[string]any, len(recs))
	for i, r := range recs {
		m, err := decodeRecord([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		decoded[i], byID[m["id"].(string)] = m, r
	}
	for _, orderBy := range []string{"customerName", "-customerName", "balance", "-balance", "nothing", "-id"} {
		for _, pg := range []struct{ page, size int }{{1, 1}, {1, 10}, {3, 10}, {6, 10}, {7, 10}, {2, 50}, {1, 100}, {57, 1}, {58, 1}} {
			path := fmt.Sprintf("/companies/%s/data/customers?orderBy=%s&page=%d&pageSize=%d&query=%s",
				co, urlq(orderBy), pg.page, pg.size, urlq("status=Active"))
			var got recordPage
			e.must(200, "GET", path, nil, &got)
			want, total := paging.Apply(decoded, paging.Params{Page: pg.page, PageSize: pg.size, OrderBy: orderBy})
			var gotIDs, wantIDs []string
			for i, raw := range got.Results {
				var m struct{ ID string }
				json.Unmarshal(raw, &m)
				gotIDs = append(gotIDs, m.ID)
				if string(raw) != byID[m.ID] {
					t.Errorf("%s: result %d is %s, want it as synced: %s", path, i, raw, byID[m.ID])
				}
			}
			for _, m := range want {
				wantIDs = append(wantIDs, m["id"].(string))
			}
			if strings.Join(gotIDs, " ") != strings.Join(wantIDs, " ") || got.TotalResults != total {
				t.Errorf("%s: got %v of %d, want %v of %d", path, gotIDs, got.TotalResults, wantIDs, total)
			}
		}
	}
}

// A sorted request past page × pageSize = paging.MaxSortWindow is refused
// with a 400 that says why; without orderBy the same page is served.
func TestRecordsSortWindow(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")
	e.publish(co, dataset.Customers, sortCustomers(3)...)
	base := "/companies/" + co + "/data/customers?orderBy=customerName&"
	tests := []struct {
		query  string
		status int
	}{
		{"page=2&pageSize=5000", 200},
		{"page=10000&pageSize=1", 200},
		{"page=3&pageSize=5000", 400},
		{"page=10001&pageSize=1", 400},
		{"page=9223372036854775807", 400},
	}
	for _, tt := range tests {
		status, out := e.call("GET", base+tt.query, nil)
		if tt.status == 400 {
			e.apiError(status, out, 400, CodeBadParameter, "orderBy", "page", "10000")
			continue
		}
		var page recordPage
		if status != tt.status || json.Unmarshal(out, &page) != nil || page.TotalResults != 3 || len(page.Results) != 0 {
			t.Errorf("%s: %d %s, want %d and an empty page of 3", tt.query, status, out, tt.status)
		}
	}
	var page recordPage
	e.must(200, "GET", "/companies/"+co+"/data/customers?page=3&pageSize=5000", nil, &page)
	if page.TotalResults != 3 || len(page.Results) != 0 {
		t.Errorf("page 3 without orderBy: %+v, want an empty page of 3", page)
	}
}

// gatedStore holds every CachedRecords call until gate is closed, and
// counts the calls under way.
type gatedStore struct {
	Store
	gate         chan struct{}
	inside, most atomic.Int32
}

func (g *gatedStore) CachedRecords(ctx context.Context, companyID, dt string, fn func(string, []byte) error) error {
	n := g.inside.Add(1)
	defer g.inside.Add(-1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.CachedRecords(ctx, companyID, dt, fn)
}

// At most Config.SortScans sorted requests scan the cache at once; the
// others wait their turn and are then served.
func TestSortedScansAtOnce(t *testing.T) {
	gated := &gatedStore{gate: make(chan struct{})}
	e := newEnvWith(t, func(c *Config) {
		gated.Store = c.Store
		c.Store, c.SortScans = gated, 2
	})
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")
	e.publish(co, dataset.Customers, sortCustomers(5)...)
	const requests = 3
	statuses := make(chan int, requests)
	for range requests {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), "GET",
				e.url+"/companies/"+co+"/data/customers?pageSize=1&orderBy=customerName", nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		inside, waiting := gated.inside.Load(), e.srv.sortWaiting.Load()
		if inside == 2 && waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sorted scans under way and %d waiting; want 2 and 1", inside, waiting)
		}
	}
	close(gated.gate)
	for range requests {
		if status := <-statuses; status != 200 {
			t.Errorf("sorted request: %d, want 200", status)
		}
	}
	if most := gated.most.Load(); most != 2 {
		t.Errorf("%d sorted scans at once, want 2", most)
	}
}

// A page whose offset overflows an int is past the end of the list: an
// empty page, never the first records, on the synced data (streamed, with
// and without a query) as on the lists served from memory.
func TestPageOffsetOverflow(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")
	e.publish(co, dataset.Customers, sortCustomers(4)...)
	const huge = "9223372036854775807"
	tests := []struct {
		path      string
		wantTotal int
	}{
		{"/companies/" + co + "/data/customers?page=" + huge, 4},
		{"/companies/" + co + "/data/customers?page=" + huge + "&pageSize=1", 4},
		{"/companies/" + co + "/data/customers?page=" + huge + "&pageSize=5000", 4},
		{"/companies/" + co + "/data/customers?page=4611686018427387905&pageSize=2", 4},
		{"/companies/" + co + "/data/customers?page=" + huge + "&query=" + urlq("status=Active"), 4},
		{"/companies?page=" + huge, 1},
		{"/companies?page=" + huge + "&pageSize=7", 1},
		{"/companies/" + co + "/connections?page=" + huge, 1},
	}
	for _, tt := range tests {
		var page struct {
			Results      []json.RawMessage `json:"results"`
			TotalResults int               `json:"totalResults"`
			Links        paging.Links      `json:"_links"`
		}
		e.must(200, "GET", tt.path, nil, &page)
		if len(page.Results) != 0 || page.Results == nil || page.TotalResults != tt.wantTotal || page.Links.Next != nil {
			t.Errorf("%s: %d results of %d, next %v; want an empty page of %d and no next", tt.path,
				len(page.Results), page.TotalResults, page.Links.Next, tt.wantTotal)
		}
	}
}
