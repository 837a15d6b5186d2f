package e2e

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// lendingBooks are the XML and SQLite forms of the book GnuCash wrote for
// the lender's types (agent/source/gnucash/testdata/make-lending.py).
var lendingBooks = []string{"../agent/source/gnucash/testdata/lending.gnucash", "../agent/source/gnucash/testdata/lending-sqlite.gnucash"}

// TestEveryBookEveryTypeAndReports links two real agents, running at once,
// to one coordinator: one to every shared GnuCash book, one to both forms
// of the lending book; checks every data type of every book ends Complete;
// then reads each book's aged debtor and creditor reports once, and its
// balance sheet and profit and loss once (twelve months: 200 for every
// book, each with a Complete journal in one currency; 409 in the error
// shape for a company with nothing synced, the one the API refuses). The
// lending book's two forms give the same records of the lender's types (as
// many as the book holds), the same reports, whose totals are its receivable and payable balances
// (what Bo's Garage paid on account, −50.00; what is owed to Paper
// Supplies, 8.00), and the same statements, its balance sheet balancing
// at every month's end (netAssets = assets − liabilities = equity).
func TestEveryBookEveryTypeAndReports(t *testing.T) {
	parallel(t)
	books, err := filepath.Glob(filepath.Join(gnucashBooks, "*.gnucash*"))
	if err != nil || len(books) == 0 {
		t.Fatalf("no books in %s (%v)", gnucashBooks, err)
	}
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	companies := map[string]string{}
	for i, group := range [][]string{books, lendingBooks} {
		config := filepath.Join(t.TempDir(), "agent.json")
		for _, book := range group {
			abs, _ := filepath.Abs(book)
			company, _, code := setupConnection(t, c, "gnucash")
			out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "link", "--config", config,
				"--coordinator", "http://"+c.addr, "--code", code, "--source", "gnucash", "--path", abs).CombinedOutput()
			if err != nil {
				t.Fatalf("link %s: %v\n%s", book, err, out)
			}
			companies[filepath.Base(book)] = company
		}
		runAgentBin(t, binDir, config, "--log-level", []string{"info", "debug"}[i])
	}
	reports := map[string][2]json.RawMessage{}
	statements := map[string][2]json.RawMessage{}
	for name, company := range companies {
		waitAllEnded(t, c, name, company)
		statuses := dataStatus(t, c, company)
		if len(statuses) != len(dataset.DataTypes) {
			t.Errorf("%s: %d data types synced, want %d: %v", name, len(statuses), len(dataset.DataTypes), statuses)
		}
		for dt, st := range statuses {
			if st != "Complete" {
				t.Errorf("%s: %s ended %s: %s", name, dt, st, failure(t, c, company, dt))
			}
		}
		var r [2]json.RawMessage
		for i, report := range []string{"agedDebtor", "agedCreditor"} {
			var rep map[string]json.RawMessage
			if s := c.do("GET", "/companies/"+company+"/reports/"+report+"?reportDate=2100-01-01", nil, &rep); s != 200 {
				t.Fatalf("%s: %s: status %d", name, report, s)
			}
			r[i] = rep["data"]
		}
		reports[name] = r
		statements[name] = readStatements(t, c, name, company, 200, "")
	}

	lend := [2]string{companies[filepath.Base(lendingBooks[0])], companies[filepath.Base(lendingBooks[1])]}
	want := map[string]int{"payments": 5, "billPayments": 3, "creditNotes": 1, "billCreditNotes": 1, "bankAccounts": 4}
	for dt, n := range want {
		var got [2][]string
		for i, company := range lend {
			var page struct{ Results []json.RawMessage }
			c.do("GET", "/companies/"+company+"/data/"+dt+"?pageSize=100", nil, &page)
			for _, r := range page.Results {
				got[i] = append(got[i], string(r))
			}
			slices.Sort(got[i])
		}
		if len(got[0]) != n || !slices.Equal(got[0], got[1]) {
			t.Errorf("%s: %d records from XML, %d from SQLite, want %d and the same\nXML    %v\nSQLite %v",
				dt, len(got[0]), len(got[1]), n, got[0], got[1])
		}
	}
	var none struct{ ID string }
	if s := c.do("POST", "/companies", map[string]any{"name": "Nothing Synced Ltd"}, &none); s != 200 {
		t.Fatalf("create company: %d", s)
	}
	readStatements(t, c, "a company with nothing synced", none.ID, 409, "has never been synced")
	xs, ss := statements[filepath.Base(lendingBooks[0])], statements[filepath.Base(lendingBooks[1])]
	if !bytes.Equal(xs[0], ss[0]) || !bytes.Equal(xs[1], ss[1]) {
		t.Errorf("the lending book's statements differ between XML and SQLite\nXML    %s\n       %s\nSQLite %s\n       %s", xs[0], xs[1], ss[0], ss[1])
	}
	checkBalances(t, ss[0])
	x, s := reports[filepath.Base(lendingBooks[0])], reports[filepath.Base(lendingBooks[1])]
	for i, want := range []string{"-50", "8"} {
		if !bytes.Equal(x[i], s[i]) {
			t.Errorf("report %d: XML and SQLite differ\nXML    %s\nSQLite %s", i, x[i], s[i])
		}
		if got := reportTotal(t, s[i]); got != want {
			t.Errorf("report %d of the lending book adds up to %s, want %s: %s", i, got, want, s[i])
		}
	}
}

// reportTotal adds up every amount of an aged report's data.
func reportTotal(t *testing.T, data json.RawMessage) string {
	var rows []struct {
		AgedCurrencyOutstanding []struct {
			AgedOutstandingAmounts []struct{ Amount json.Number }
		}
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatalf("report data %s: %v", data, err)
	}
	sum := new(big.Rat)
	for _, r := range rows {
		for _, c := range r.AgedCurrencyOutstanding {
			for _, a := range c.AgedOutstandingAmounts {
				v, ok := new(big.Rat).SetString(string(a.Amount))
				if !ok {
					t.Fatalf("amount %q", a.Amount)
				}
				sum.Add(sum, v)
			}
		}
	}
	return sum.RatString()
}

// readStatements reads the company's balance sheet and profit and loss
// over twelve months, which must answer status; unless 200, in the error
// shape saying why.
func readStatements(t *testing.T, c *coordinator, name, company string, status int, why string) [2]json.RawMessage {
	t.Helper()
	var out [2]json.RawMessage
	for i, st := range []string{"balanceSheet", "profitAndLoss"} {
		var body json.RawMessage
		got := c.do("GET", "/companies/"+company+"/data/financials/"+st+"?periodLength=1&periodsToCompare=12", nil, &body)
		var e struct {
			StatusCode int
			Error      string
		}
		json.Unmarshal(body, &e)
		if got != status || status != 200 && (e.StatusCode != status || !strings.Contains(e.Error, why)) {
			t.Errorf("%s: %s: status %d, want %d saying %q: %s", name, st, got, status, why, body)
		}
		out[i] = body
	}
	return out
}

// checkBalances checks a balance sheet balances at every date: netAssets
// is assets less liabilities, and equals equity.
func checkBalances(t *testing.T, sheet json.RawMessage) {
	t.Helper()
	var bs struct {
		Reports []struct {
			Date                        string
			Assets, Liabilities, Equity struct{ Value json.Number }
			NetAssets                   json.Number
		}
	}
	if err := json.Unmarshal(sheet, &bs); err != nil || len(bs.Reports) != 12 {
		t.Fatalf("balance sheet of %d reports (%v), want 12: %s", len(bs.Reports), err, sheet)
	}
	rat := func(n json.Number) *big.Rat {
		r, ok := new(big.Rat).SetString(string(n))
		if !ok {
			t.Fatalf("amount %q in %s", n, sheet)
		}
		return r
	}
	nonzero := false
	for _, r := range bs.Reports {
		net := new(big.Rat).Sub(rat(r.Assets.Value), rat(r.Liabilities.Value))
		if net.Cmp(rat(r.NetAssets)) != 0 || net.Cmp(rat(r.Equity.Value)) != 0 {
			t.Errorf("balance sheet at %s: assets %s − liabilities %s = %s, netAssets %s, equity %s", r.Date,
				r.Assets.Value, r.Liabilities.Value, net.FloatString(2), r.NetAssets, r.Equity.Value)
		}
		nonzero = nonzero || rat(r.Assets.Value).Sign() != 0
	}
	if !nonzero {
		t.Errorf("the lending book's balance sheet holds no assets: %s", sheet)
	}
}
