package api

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent/source/sources"
	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/agent/worker"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// syncStatementTypes links a new agent to a new company with book as its
// source, and syncs the chart of accounts and the journal to Complete.
func syncStatementTypes(t *testing.T, e *supportEnv, agentID, book string) string {
	t.Helper()
	co, conn, cred := e.linkedAgent(agentID)
	src, err := sources.Open("gnucash", book)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Coordinator: e.url, Credential: cred, Logger: e.log.With("side", "agent"),
		Bindings: []worker.Binding{{ConnectionID: conn, CompanyID: co, Source: src}},
		HTTP:     upload.NewHTTPClient(e.log, nil), BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, dt := range []dataset.DataType{dataset.ChartOfAccounts, dataset.JournalEntries} {
		waitDataset(t, e, co, e.queue(co, dt).ID)
	}
	return co
}

// TestFinancialStatements syncs the lending book's chart and journal
// from its SQLite form to one company and from its XML form to another,
// through real agents, the hub and the publisher, and reads both
// statements through the API: the two forms give the same statements,
// which match the OpenAPI document, balance, and hold the figures
// make-lending.py posted. Then the callers and parameters refused.
func TestFinancialStatements(t *testing.T) {
	e := newSupportEnv(t)
	co := syncStatementTypes(t, e, "agent-fin-sql", lendingBook)
	coXML := syncStatementTypes(t, e, "agent-fin-xml", "../../agent/source/gnucash/testdata/lending.gnucash")

	const q = "?periodLength=1&periodsToCompare=3"
	for _, st := range []struct{ path, schema string }{
		{"balanceSheet", "AccountingBalanceSheet"}, {"profitAndLoss", "AccountingProfitAndLossReport"},
	} {
		sqlForm := e.must(200, "GET", "/companies/"+co+"/data/financials/"+st.path+q, nil, nil)
		xmlForm := e.must(200, "GET", "/companies/"+coXML+"/data/financials/"+st.path+q, nil, nil)
		if !bytes.Equal(sqlForm, xmlForm) {
			t.Errorf("%s: the SQLite form's\n%s\nthe XML form's\n%s", st.path, sqlForm, xmlForm)
		}
		checkSchema(t, st.schema, sqlForm)
	}

	var bs struct {
		Currency string
		Reports  []struct {
			Date                        string
			Assets, Liabilities, Equity struct{ Value json.Number }
			NetAssets                   json.Number
		}
	}
	e.must(200, "GET", "/companies/"+co+"/data/financials/balanceSheet"+q, nil, &bs)
	if bs.Currency != "EUR" || len(bs.Reports) != 3 {
		t.Fatalf("balance sheet in %q with %d reports, want EUR and 3", bs.Currency, len(bs.Reports))
	}
	for _, r := range bs.Reports {
		if !decEqual(r.NetAssets, r.Equity.Value) {
			t.Errorf("%s: net assets %s, equity %s", r.Date, r.NetAssets, r.Equity.Value)
		}
	}
	// The bank balances at the newest period's end (the month of the last
	// entry) are the bank accounts' balances (TestLendingTypes); the
	// card's debt is a liability.
	var tree struct {
		Reports []struct{ Assets, Liabilities reportLine }
	}
	e.must(200, "GET", "/companies/"+co+"/data/financials/balanceSheet"+q, nil, &tree)
	for name, want := range map[string]string{"Current Account": "3920.00", "Savings": "1500.00", "Petty Cash": "280.00"} {
		if got := tree.Reports[0].Assets.find(name); got != want {
			t.Errorf("%s on the balance sheet: %q, want %s", name, got, want)
		}
	}
	if got := tree.Reports[0].Liabilities.find("Credit Card"); got != "800.00" {
		t.Errorf("the card's debt on the balance sheet: %q, want 800.00", got)
	}
	var pl struct {
		ReportBasis string
		Reports     []struct {
			FromDate, ToDate string
			NetProfit        json.Number
		}
	}
	e.must(200, "GET", "/companies/"+co+"/data/financials/profitAndLoss?periodLength=12&periodsToCompare=1", nil, &pl)
	if pl.ReportBasis != "Accrual" || len(pl.Reports) != 1 {
		t.Fatalf("profit and loss %+v, want one Accrual report", pl)
	}

	// A support key reads them; a revoked key, a company that does not
	// exist, one with nothing synced and bad parameters are refused, each
	// error naming what is wrong.
	support := e.supportKey()
	if status, out := e.callWith(support, "GET", "/companies/"+co+"/data/financials/balanceSheet"+q, nil); status != 200 {
		t.Errorf("support key: %d %s", status, out)
	}
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "revoked"}, &k)
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	status, out := e.callWith("Bearer "+k.APIKey, "GET", "/companies/"+co+"/data/financials/balanceSheet"+q, nil)
	e.apiError(status, out, 401, CodeUnauthorized)
	status, out = e.call("GET", "/companies/nope/data/financials/profitAndLoss"+q, nil)
	e.apiError(status, out, 404, CodeNotFound)
	other := e.company("Nothing synced")
	status, out = e.call("GET", "/companies/"+other+"/data/financials/balanceSheet"+q, nil)
	e.apiError(status, out, 409, CodeConflict, "chartOfAccounts", "Complete")
	for _, bad := range []struct{ query, field string }{
		{"periodsToCompare=3", "periodLength"},
		{"periodLength=0&periodsToCompare=3", "periodLength"},
		{"periodLength=13&periodsToCompare=3", "periodLength"},
		{"periodLength=x&periodsToCompare=3", "periodLength"},
		{"periodLength=1", "periodsToCompare"},
		{"periodLength=1&periodsToCompare=37", "periodsToCompare"},
		{"periodLength=1&periodsToCompare=-1", "periodsToCompare"},
		{"periodLength=1&periodsToCompare=3&startMonth=2024-13-01", "startMonth"},
		{"periodLength=1&periodsToCompare=3&startMonth=last+month", "startMonth"},
	} {
		for _, path := range []string{"balanceSheet", "profitAndLoss"} {
			status, out = e.call("GET", "/companies/"+co+"/data/financials/"+path+"?"+bad.query, nil)
			e.apiError(status, out, 400, CodeBadParameter, bad.field)
		}
	}
	status, out = e.call("POST", "/companies/"+co+"/data/financials/balanceSheet"+q, nil)
	e.apiError(status, out, 405, CodeMethodRefused)
}

// decEqual compares two JSON decimals by value.
func decEqual(a, b json.Number) bool {
	x, _ := new(big.Rat).SetString(string(a))
	y, _ := new(big.Rat).SetString(string(b))
	return x != nil && y != nil && x.Cmp(y) == 0
}

// reportLine is a ReportLine as a client reads it.
type reportLine struct {
	Name  string
	Value json.Number
	Items []reportLine
}

// find is the value of the line named name in l's tree; "" if none.
func (l reportLine) find(name string) string {
	if l.Name == name {
		return string(l.Value)
	}
	for _, c := range l.Items {
		if v := c.find(name); v != "" {
			return v
		}
	}
	return ""
}
