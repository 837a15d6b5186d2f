package portal

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// publishRecords syncs records of dt into the company co's cache as an
// agent and the publisher would: claim, upload, commit, publish (without
// validation: the records are the test's).
func (e *env) publishRecords(dt dataset.DataType, records ...string) {
	e.t.Helper()
	ctx := e.t.Context()
	ds, err := e.q.Queue(ctx, "co", dt, "", "queued by a test")
	if err != nil {
		e.t.Fatal(err)
	}
	lease := "lease-" + ds.ID
	if _, err := e.st.Claim(ctx, store.ClaimRequest{DatasetID: ds.ID, AgentID: "agent-1", LeaseID: lease, Now: time.Now(), TTL: time.Minute}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, LeaseID: lease, Actor: "agent-1", To: dataset.Mapping, Now: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	data := strings.Join(records, "\n") + "\n"
	if err := e.st.PutPage(ctx, store.Page{AgentID: "agent-1", DatasetID: ds.ID, LeaseID: lease, N: 1, Records: len(records), Data: []byte(data)}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.CommitUpload(ctx, "agent-1", ds.ID, lease, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Report(ctx, store.Report{CompanyID: "co", DatasetID: ds.ID, Actor: store.ActorCoordinator, To: dataset.Processing, Now: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.PublishCache(ctx, "co", ds.ID, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// TestAgedReportPage shows the aged debtor report as a table once its
// types are synced, says which are missing before, refuses a bad
// parameter, and knows no other report.
func TestAgedReportPage(t *testing.T) {
	e := newEnv(t, "")
	e.linkAgent("agent-1")
	b := e.signedIn(supportKey)
	if _, body := b.get("/portal/companies/co"); !strings.Contains(body, `href="/portal/companies/co/reports/agedDebtor"`) {
		t.Errorf("the company page does not link the aged debtor report:\n%s", body)
	}
	resp, body := b.get("/portal/companies/co/reports/agedDebtor")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="report-missing"`) || !strings.Contains(body, "none of [invoices creditNotes payments]") {
		t.Fatalf("before any sync: %d\n%s", resp.StatusCode, body)
	}
	e.publishRecords(dataset.Customers, `{"id":"c1","customerName":"Anna's Bakery"}`)
	e.publishRecords(dataset.Invoices,
		`{"id":"i1","customerRef":{"id":"c1"},"issueDate":"2024-03-20","currency":"EUR","totalAmount":200.00,"status":"Submitted","lineItems":[{"subTotal":200.00,"totalAmount":200.00}],"subTotal":200.00,"totalTaxAmount":0}`)
	e.publishRecords(dataset.CreditNotes,
		`{"id":"n1","customerRef":{"id":"c1"},"issueDate":"2024-01-05","currency":"EUR","totalAmount":30.00,"status":"Submitted","lineItems":[{"subTotal":30.00,"totalAmount":30.00}],"subTotal":30.00,"totalTaxAmount":0}`)
	e.publishRecords(dataset.Payments)
	resp, body = b.get("/portal/companies/co/reports/agedDebtor?reportDate=2024-04-01&numberOfPeriods=2&periodLengthDays=30")
	for _, want := range []string{`<th>2024-03-02 – 2024-04-01</th>`, `<th>0001-01-01 – 2024-03-02</th>`,
		`<td title="c1">Anna&#39;s Bakery</td><td>EUR</td><td class="amount">200.00</td><td class="amount">-30.00</td><td class="amount">170.00</td>`,
		`<th>Total</th><td>EUR</td>`} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("report: %d, want %s in\n%s", resp.StatusCode, want, body)
		}
	}
	resp, body = b.get("/portal/companies/co/reports/agedDebtor?reportDate=2024-01-01")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="report-empty"`) {
		t.Errorf("before anything was issued: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.get("/portal/companies/co/reports/agedDebtor?periodLengthDays=0")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "periodLengthDays must be 1 to 3660") {
		t.Errorf("bad parameter: %d\n%s", resp.StatusCode, body)
	}
	for _, p := range []string{"/portal/companies/co/reports/balanceSheet", "/portal/companies/nope/reports/agedDebtor"} {
		if resp, _ := b.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := e.browser().get("/portal/companies/co/reports/agedDebtor"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out: %d, want a redirect to sign in", resp.StatusCode)
	}
}
