package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// publish syncs records into the cache through the store, as an agent's
// upload and the coordinator's processing would.
func (e *env) publish(companyID string, dt dataset.DataType, records ...string) string {
	e.t.Helper()
	ctx := e.t.Context()
	op := e.queue(companyID, dt)
	e.drive(companyID, op.ID, "agent-1", dataset.Fetching, dataset.Mapping)
	lease := "lease-" + op.ID
	data := strings.Join(records, "\n") + "\n"
	if err := e.st.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: op.ID, LeaseID: lease, N: 1, Records: len(records), Data: []byte(data)}); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Add(time.Second)
	if _, err := e.st.CommitUpload(ctx, "agent-1", op.ID, lease, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	e.drive(companyID, op.ID, "agent-1", dataset.Processing)
	if _, err := e.st.PublishCache(ctx, companyID, op.ID, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return op.ID
}

func TestRecords(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "csv")
	e.link(co, conn.ID, "agent-1")

	var empty recordPage
	e.must(200, "GET", "/companies/"+co+"/data/invoices", nil, &empty)
	if empty.TotalResults != 0 || empty.Results == nil {
		t.Errorf("before any sync: %+v", empty)
	}
	var recs []string
	for i := range 5 {
		recs = append(recs, fmt.Sprintf(`{"id":"inv-%d","totalAmount":%d.50,"status":"%s"}`, i, 100-i*10, []string{"Paid", "Submitted"}[i%2]))
	}
	e.publish(co, dataset.Invoices, recs...)

	var page recordPage
	body := e.must(200, "GET", "/companies/"+co+"/data/invoices?pageSize=2&page=2", nil, &page)
	checkSchema(t, "Records", body)
	if page.TotalResults != 5 || len(page.Results) != 2 || !strings.Contains(string(page.Results[0]), `"inv-2"`) {
		t.Errorf("page 2: total %d, results %s", page.TotalResults, page.Results)
	}
	if !strings.Contains(string(page.Results[0]), `"totalAmount":80.50`) {
		t.Errorf("amount not served exactly as synced: %s", page.Results[0])
	}
	e.must(200, "GET", "/companies/"+co+"/data/invoices?query="+urlq("status=Paid&&totalAmount>70"), nil, &page)
	if page.TotalResults != 2 {
		t.Errorf("status=Paid&&totalAmount>70: %d results, want 2 (inv-0, inv-2)", page.TotalResults)
	}
	e.must(200, "GET", "/companies/"+co+"/data/invoices?orderBy=totalAmount&pageSize=1", nil, &page)
	if page.TotalResults != 5 || !strings.Contains(string(page.Results[0]), `"inv-4"`) {
		t.Errorf("orderBy=totalAmount: %s", page.Results)
	}
	var one map[string]any
	e.must(200, "GET", "/companies/"+co+"/data/invoices/inv-3", nil, &one)
	if one["id"] != "inv-3" {
		t.Errorf("record inv-3: %v", one)
	}

	// A new sync replaces the cache whole.
	e.publish(co, dataset.Invoices, `{"id":"inv-9","totalAmount":1}`)
	e.must(200, "GET", "/companies/"+co+"/data/invoices", nil, &page)
	if page.TotalResults != 1 || !strings.Contains(string(page.Results[0]), "inv-9") {
		t.Errorf("after the second sync: %s", page.Results)
	}

	status, out := e.call("GET", "/companies/"+co+"/data/invoices/inv-3", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/"+co+"/data/widgets", nil)
	e.apiError(status, out, 400, CodeUnknownType, "widgets")
	status, out = e.call("GET", "/companies/nope/data/invoices", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/"+co+"/data/invoices?query="+urlq("(("), nil)
	e.apiError(status, out, 400, CodeBadParameter, "query")
}
