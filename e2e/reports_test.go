package e2e

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// lendingBooks are the XML and SQLite forms of the book GnuCash wrote for
// the lender's types (agent/source/gnucash/testdata/make-lending.py).
var lendingBooks = []string{"../agent/source/gnucash/testdata/lending.gnucash", "../agent/source/gnucash/testdata/lending-sqlite.gnucash"}

// TestEveryBookEveryTypeAndReports links two real agents, running at once,
// to one coordinator: one to every shared GnuCash book, one to both forms
// of the lending book; checks every data type of every book ends Complete;
// then reads each book's aged debtor and creditor reports once. The
// lending book's two forms give the same records of the lender's types (as
// many as the book holds) and the same reports, whose totals are its receivable and payable balances
// (what Bo's Garage paid on account, −50.00; what is owed to Paper
// Supplies, 8.00).
func TestEveryBookEveryTypeAndReports(t *testing.T) {
	t.Parallel()
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
