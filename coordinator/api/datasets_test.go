package api

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// drive moves a dataset along as an agent and the coordinator would: the
// claim, the agent's reports under its lease, the coordinator's steps.
func (e *env) drive(companyID, dsID, agent string, path ...dataset.Status) {
	e.t.Helper()
	ctx := e.t.Context()
	lease := "lease-" + dsID
	for _, to := range path {
		e.clock.Add(time.Second)
		var err error
		switch {
		case to == dataset.Fetching:
			_, err = e.st.Claim(ctx, store.ClaimRequest{DatasetID: dsID, AgentID: agent, LeaseID: lease, Now: e.clock.Now(), TTL: time.Minute})
		case dataset.CanMove(dataset.Agent, dataset.Fetching, to) || to == dataset.MapError:
			_, err = e.st.Report(ctx, store.Report{CompanyID: companyID, DatasetID: dsID, LeaseID: lease, Actor: agent, To: to, Now: e.clock.Now(), Message: "agent says " + string(to)})
		default:
			_, err = e.st.Report(ctx, store.Report{CompanyID: companyID, DatasetID: dsID, Actor: store.ActorCoordinator, To: to, Now: e.clock.Now()})
		}
		if err != nil {
			e.t.Fatalf("drive %s to %s: %v", dsID, to, err)
		}
	}
}

var toComplete = []dataset.Status{dataset.Fetching, dataset.Mapping, dataset.Validating, dataset.Processing, dataset.Complete}

func (e *env) queue(companyID string, dt dataset.DataType) pullOperation {
	e.t.Helper()
	var op pullOperation
	body := e.must(200, "POST", "/companies/"+companyID+"/data/queue/"+string(dt), nil, &op)
	checkSchema(e.t, "PullOperation", body)
	return op
}

func TestQueue(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")

	status, out := e.call("POST", "/companies/"+co+"/data/queue/invoices", nil)
	e.apiError(status, out, 409, CodeNoConnection, "no data connection")

	conn := e.connection(co, "gnucash")
	op := e.queue(co, dataset.Invoices)
	if op.Status != dataset.Queued || op.DataType != dataset.Invoices || op.ConnectionID != conn.ID || op.CompanyID != co ||
		op.Progress != 0 || op.IsCompleted || op.IsErrored || op.Requested != "2026-03-01T09:00:00.000Z" {
		t.Errorf("queued = %+v", op)
	}

	// A second queue of the same type is refused with the dataset in progress.
	status, out = e.call("POST", "/companies/"+co+"/data/queue/invoices", nil)
	e.apiError(status, out, 409, CodeInProgress, op.ID)
	// Other types are independent.
	e.queue(co, dataset.Bills)

	// Once the first is terminal, the type can be queued again.
	e.link(co, conn.ID, "agent-1")
	e.drive(co, op.ID, "agent-1", toComplete...)
	again := e.queue(co, dataset.Invoices)
	if again.ID == op.ID {
		t.Error("a new queue reused the old dataset")
	}

	status, out = e.call("POST", "/companies/"+co+"/data/queue/widgets", nil)
	e.apiError(status, out, 400, CodeUnknownType, "widgets", "chartOfAccounts", "journalEntries")
	status, out = e.call("POST", "/companies/nope/data/queue/invoices", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("POST", "/companies/"+co+"/data/queue/customers?connectionId=nope", nil)
	e.apiError(status, out, 404, CodeNotFound)

	// Two live connections: the caller must say which.
	second := e.connection(co, "csv")
	status, out = e.call("POST", "/companies/"+co+"/data/queue/customers", nil)
	e.apiError(status, out, 409, CodeNoConnection, "connectionId")
	var onSecond pullOperation
	e.must(200, "POST", "/companies/"+co+"/data/queue/customers?connectionId="+second.ID, nil, &onSecond)
	if onSecond.ConnectionID != second.ID {
		t.Errorf("queued on %s, want %s", onSecond.ConnectionID, second.ID)
	}

	// Unlinked: refused. Deauthorized: the dataset ends in AuthError at once.
	e.must(200, "PATCH", "/companies/"+co+"/connections/"+second.ID, map[string]any{"status": "Unlinked"}, nil)
	status, out = e.call("POST", "/companies/"+co+"/data/queue/suppliers?connectionId="+second.ID, nil)
	e.apiError(status, out, 409, CodeUnlinked, "unlinked")
	if _, err := e.st.UpdateConnection(t.Context(), co, conn.ID, func(c *store.Connection) error {
		c.Status = store.Deauthorized
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	denied := e.queue(co, dataset.Suppliers)
	if denied.Status != dataset.AuthError || !denied.IsErrored {
		t.Errorf("queue on a Deauthorized connection: %+v, want AuthError", denied)
	}
}

func TestQueueAll(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	e.connection(co, "gnucash")
	first := e.queue(co, dataset.Invoices)
	e.must(204, "POST", "/companies/"+co+"/data/all", nil, nil)
	e.must(204, "POST", "/companies/"+co+"/data/all", nil, nil)
	var page struct {
		Results      []pullOperation `json:"results"`
		TotalResults int             `json:"totalResults"`
	}
	e.must(200, "GET", "/companies/"+co+"/data/history", nil, &page)
	if page.TotalResults != len(dataset.DataTypes) {
		t.Fatalf("%d datasets after queue all twice, want one per type (%d)", page.TotalResults, len(dataset.DataTypes))
	}
	seen := map[dataset.DataType]string{}
	for _, d := range page.Results {
		if seen[d.DataType] != "" {
			t.Errorf("%s queued twice", d.DataType)
		}
		seen[d.DataType] = d.ID
	}
	if seen[dataset.Invoices] != first.ID {
		t.Errorf("queue all replaced the invoices dataset in progress")
	}
	// Dispatch order is the sync order: company first, bank accounts last.
	queued, _, err := e.st.QueuedDatasets(t.Context(), first.ConnectionID)
	if err != nil {
		t.Fatal(err)
	}
	var order []dataset.DataType
	for _, d := range queued {
		order = append(order, d.DataType)
	}
	if !slices.Equal(order, dataset.DataTypes) {
		t.Errorf("dispatch order %v", order)
	}
	status, out := e.call("POST", "/companies/nope/data/all", nil)
	e.apiError(status, out, 404, CodeNotFound)
}

func TestDataStatus(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")

	// invoices: succeeded. bills: failed first time. customers: failed after
	// an earlier success. suppliers and the rest: never synced.
	inv := e.queue(co, dataset.Invoices)
	e.drive(co, inv.ID, "agent-1", toComplete...)
	bills := e.queue(co, dataset.Bills)
	e.drive(co, bills.ID, "agent-1", dataset.Fetching, dataset.FetchError)
	custOK := e.queue(co, dataset.Customers)
	e.drive(co, custOK.ID, "agent-1", toComplete...)
	custOKAt := e.clock.Now()
	custBad := e.queue(co, dataset.Customers)
	e.drive(co, custBad.ID, "agent-1", dataset.Fetching, dataset.Mapping, dataset.MapError)
	queued := e.queue(co, dataset.TaxRates)

	body := e.must(200, "GET", "/companies/"+co+"/dataStatus", nil, nil)
	var got map[string]map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(dataset.DataTypes) {
		t.Errorf("%d entries, want one per data type in the sync settings", len(got))
	}
	for k, v := range got {
		raw, _ := json.Marshal(v)
		checkSchema(t, "DataStatus", raw)
		if v["dataType"] != k {
			t.Errorf("entry %s has dataType %v", k, v["dataType"])
		}
	}
	tests := map[string]map[string]any{
		"suppliers": {"dataType": "suppliers"},
		"bills":     {"dataType": "bills", "currentStatus": "FetchError", "latestSyncId": bills.ID},
		"customers": {"dataType": "customers", "currentStatus": "MapError", "latestSyncId": custBad.ID,
			"lastSuccessfulSync": custOKAt.Format("2006-01-02T15:04:05.000Z"), "latestSuccessfulSyncId": custOK.ID},
		"invoices": {"dataType": "invoices", "currentStatus": "Complete", "latestSyncId": inv.ID,
			"lastSuccessfulSync": "2026-03-01T09:00:05.000Z", "latestSuccessfulSyncId": inv.ID},
		"taxRates": {"dataType": "taxRates", "currentStatus": "Queued", "latestSyncId": queued.ID},
	}
	for dt, want := range tests {
		g := got[dt]
		if len(g) != len(want) {
			t.Errorf("%s = %v, want exactly %v", dt, g, want)
			continue
		}
		for k, w := range want {
			if g[k] != w {
				t.Errorf("%s.%s = %v, want %v", dt, k, g[k], w)
			}
		}
	}
	status, out := e.call("GET", "/companies/nope/dataStatus", nil)
	e.apiError(status, out, 404, CodeNotFound)
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	conn := e.connection(co, "gnucash")
	e.link(co, conn.ID, "agent-1")
	done := e.queue(co, dataset.Invoices)
	e.drive(co, done.ID, "agent-1", toComplete...)
	e.clock.Add(time.Minute)
	e.queue(co, dataset.Bills)
	e.clock.Add(time.Minute)
	newest := e.queue(co, dataset.Customers)

	var page struct {
		Results      []pullOperation `json:"results"`
		TotalResults int             `json:"totalResults"`
	}
	body := e.must(200, "GET", "/companies/"+co+"/data/history", nil, &page)
	checkSchema(t, "PullOperations", body)
	if page.TotalResults != 3 || page.Results[0].ID != newest.ID || page.Results[2].ID != done.ID {
		t.Errorf("history not newest first: %+v", page.Results)
	}
	e.must(200, "GET", "/companies/"+co+"/data/history?query="+urlq("status=Complete"), nil, &page)
	if page.TotalResults != 1 || page.Results[0].ID != done.ID || !page.Results[0].IsCompleted || page.Results[0].Progress != 100 {
		t.Errorf("status=Complete: %+v", page.Results)
	}
	e.must(200, "GET", "/companies/"+co+"/data/history?orderBy=dataType&pageSize=1&page=2", nil, &page)
	if len(page.Results) != 1 || page.Results[0].DataType != dataset.Customers {
		t.Errorf("orderBy=dataType page 2: %+v", page.Results)
	}

	var one pullOperation
	body = e.must(200, "GET", "/companies/"+co+"/data/history/"+done.ID, nil, &one)
	checkSchema(t, "PullOperation", body)
	var tos []dataset.Status
	for _, tr := range one.Timeline {
		tos = append(tos, tr.To)
		if tr.At == "" || tr.Actor == "" || tr.Attempt != 1 {
			t.Errorf("timeline entry %+v lacks time, actor or attempt", tr)
		}
	}
	want := append([]dataset.Status{dataset.Queued}, toComplete...)
	if len(tos) != len(want) {
		t.Fatalf("timeline %v, want %v", tos, want)
	}
	for i := range want {
		if tos[i] != want[i] {
			t.Errorf("timeline[%d] = %s, want %s", i, tos[i], want[i])
		}
	}
	if one.Timeline[1].Actor != "agent-1" || one.Timeline[2].Actor != "agent-1" || one.Timeline[3].Actor != "coordinator" || one.Completed == "" {
		t.Errorf("claim by %s, mapping by %s, completed %q", one.Timeline[1].Actor, one.Timeline[2].Actor, one.Completed)
	}

	status, out := e.call("GET", "/companies/"+co+"/data/history/nope", nil)
	e.apiError(status, out, 404, CodeNotFound)
	other := e.company("Other")
	status, out = e.call("GET", "/companies/"+other+"/data/history/"+done.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/"+co+"/data/history?pageSize=abc", nil)
	e.apiError(status, out, 400, CodeBadParameter, "pageSize")
	status, out = e.call("GET", "/companies/nope/data/history", nil)
	e.apiError(status, out, 404, CodeNotFound)
}

func TestValidationResults(t *testing.T) {
	e := newEnv(t)
	co := e.company("Acme")
	e.connection(co, "gnucash")
	op := e.queue(co, dataset.Invoices)
	var empty store.ValidationResult
	body := e.must(200, "GET", "/companies/"+co+"/sync/"+op.ID+"/validation", nil, &empty)
	checkSchema(t, "ValidationResult", body)
	if empty.Errors == nil || empty.Warnings == nil || len(empty.Errors)+len(empty.Warnings) != 0 {
		t.Errorf("no results yet: got %s, want empty lists", body)
	}
	want := store.ValidationResult{
		Errors:   []store.ValidationItem{{RuleID: "invoice.total", ItemID: "inv-1", Message: "line items add up to 10.00, total is 12.00", ValidatorName: "totals"}},
		Warnings: []store.ValidationItem{{RuleID: "customer.email", ItemID: "c-1", Message: "no email", ValidatorName: "contacts"}},
	}
	if err := e.st.SetValidation(t.Context(), co, op.ID, want); err != nil {
		t.Fatal(err)
	}
	var got store.ValidationResult
	body = e.must(200, "GET", "/companies/"+co+"/sync/"+op.ID+"/validation", nil, &got)
	checkSchema(t, "ValidationResult", body)
	if len(got.Errors) != 1 || got.Errors[0] != want.Errors[0] || len(got.Warnings) != 1 || got.Warnings[0] != want.Warnings[0] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	status, out := e.call("GET", "/companies/"+co+"/sync/nope/validation", nil)
	e.apiError(status, out, 404, CodeNotFound)
}
