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

// lendingBook is the book GnuCash wrote for the lender's types
// (agent/source/gnucash/testdata/make-lending.py).
const lendingBook = "../../agent/source/gnucash/testdata/lending-sqlite.gnucash"

// TestLendingTypes syncs every type of a real GnuCash book with payments,
// credit notes and bank accounts through a real agent and the real hub,
// publisher and API, and reads the new types back: what each customer
// paid, the credit note, the bank balances, filtered by the query
// language; then the callers the records API refuses.
func TestLendingTypes(t *testing.T) {
	e := newSupportEnv(t)
	co, conn, cred := e.linkedAgent("agent-lend")
	src, err := sources.Open("gnucash", lendingBook)
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

	// Types in their sync order, one at a time: what a payment refers to
	// is in the cache before the payment is validated.
	for _, dt := range dataset.DataTypes {
		op := e.queue(co, dt)
		waitDataset(t, e, co, op.ID)
	}
	records := func(dt, query string) []map[string]any {
		var page recordPage
		e.must(200, "GET", "/companies/"+co+"/data/"+dt+"?pageSize=100"+query, nil, &page)
		out := make([]map[string]any, len(page.Results))
		for i, r := range page.Results {
			d := json.NewDecoder(bytes.NewReader(r))
			d.UseNumber()
			if err := d.Decode(&out[i]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	paid := map[string]*big.Rat{}
	for _, p := range records("payments", "") {
		name := p["customerRef"].(map[string]any)["companyName"].(string)
		if paid[name] == nil {
			paid[name] = new(big.Rat)
		}
		r, _ := new(big.Rat).SetString(string(p["totalAmount"].(json.Number)))
		paid[name].Add(paid[name], r)
	}
	// Anna: 100.00 + 270.00 (and 0 for her credit note's use); Bo: 80.00
	// in cash + 350.00.
	if len(paid) != 2 || paid["Anna's Bakery"].FloatString(2) != "370.00" || paid["Bo's Garage"].FloatString(2) != "430.00" {
		t.Errorf("paid by customer %v, want Anna's Bakery 370.00 and Bo's Garage 430.00", paid)
	}
	if got := records("payments", "&query="+urlq("totalAmount>300")); len(got) != 1 || got[0]["totalAmount"].(json.Number) != "350.00" {
		t.Errorf("payments over 300: %v, want Bo's 350.00", got)
	}
	if got := records("billPayments", ""); len(got) != 3 {
		t.Errorf("%d bill payments, want 3", len(got))
	}
	if got := records("creditNotes", ""); len(got) != 1 || got[0]["remainingCredit"].(json.Number) != "0.00" || got[0]["status"] != "Paid" {
		t.Errorf("credit notes %v, want CN-1, used up", got)
	}
	banks := map[string]string{}
	for _, b := range records("bankAccounts", "") {
		banks[b["accountName"].(string)] = string(b["balance"].(json.Number))
	}
	want := map[string]string{"Current Account": "3920.00", "Savings": "1500.00", "Petty Cash": "280.00", "Credit Card": "-800.00"}
	for k, v := range want {
		if banks[k] != v {
			t.Errorf("bank accounts %v, want %v", banks, want)
			break
		}
	}

	// A support key reads them, and cannot queue them; a revoked key,
	// another company's path, a wrong type and bad parameters are refused.
	support := e.supportKey()
	if status, out := e.callWith(support, "GET", "/companies/"+co+"/data/payments", nil); status != 200 {
		t.Errorf("support key reading payments: %d %s", status, out)
	}
	status, out := e.callWith(support, "POST", "/companies/"+co+"/data/queue/payments", nil)
	e.apiError(status, out, 403, CodeForbidden)
	var k apiKeyView
	e.must(201, "POST", "/apiKeys", map[string]any{"name": "revoked"}, &k)
	e.must(204, "DELETE", "/apiKeys/"+k.ID, nil, nil)
	status, out = e.callWith("Bearer "+k.APIKey, "GET", "/companies/"+co+"/data/payments", nil)
	e.apiError(status, out, 401, CodeUnauthorized)
	other := e.company("Other")
	var page recordPage
	e.must(200, "GET", "/companies/"+other+"/data/payments", nil, &page)
	if page.TotalResults != 0 {
		t.Errorf("another company's payments: %d, want none of Acme's", page.TotalResults)
	}
	status, out = e.call("GET", "/companies/"+co+"/data/payments/"+"nope", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/nope/data/bankAccounts", nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("GET", "/companies/"+co+"/data/payment", nil)
	e.apiError(status, out, 400, CodeUnknownType, "payments")
	for _, q := range []string{"pageSize=0", "page=-1", "query=" + urlq("totalAmount>>1"), "orderBy=" + urlq("-")} {
		status, out = e.call("GET", "/companies/"+co+"/data/payments?"+q, nil)
		e.apiError(status, out, 400, CodeBadParameter)
	}
}

// waitDataset waits until the dataset has ended, and fails the test
// unless it is Complete.
func waitDataset(t *testing.T, e *supportEnv, co, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var d pullOperation
		e.must(200, "GET", "/companies/"+co+"/data/history/"+id, nil, &d)
		if d.Status.Terminal() {
			if d.Status != dataset.Complete {
				status, out := e.call("GET", "/companies/"+co+"/sync/"+id+"/validation", nil)
				t.Fatalf("%s ended %s: %s (%d %s)", d.DataType, d.Status, d.ErrorMessage, status, out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s after 2 minutes", d.DataType, d.Status)
		}
		time.Sleep(20 * time.Millisecond) // a poll of the API, as a client would
	}
}
