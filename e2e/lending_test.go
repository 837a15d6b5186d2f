package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// lendingBooks are the XML and SQLite forms of the book GnuCash wrote for
// the lender's types (agent/source/gnucash/testdata/make-lending.py).
var lendingBooks = []string{"../agent/source/gnucash/testdata/lending.gnucash", "../agent/source/gnucash/testdata/lending-sqlite.gnucash"}

// TestLendingBooksSync links the real agent to both forms of the lending
// book, syncs every type to Complete through the real coordinator, and
// reads the payments, credit notes and bank accounts of both companies
// back through the API: the same records from either form.
func TestLendingBooksSync(t *testing.T) {
	t.Parallel()
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	config := filepath.Join(t.TempDir(), "agent.json")
	var companies []string
	for _, book := range lendingBooks {
		abs, _ := filepath.Abs(book)
		company, _, code := setupConnection(t, c, "gnucash")
		out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "link", "--config", config,
			"--coordinator", "http://"+c.addr, "--code", code, "--source", "gnucash", "--path", abs).CombinedOutput()
		if err != nil {
			t.Fatalf("link %s: %v\n%s", book, err, out)
		}
		companies = append(companies, company)
	}
	runAgent(t, config)
	for i, company := range companies {
		name := filepath.Base(lendingBooks[i])
		waitAllEnded(t, c, name, company)
		for dt, st := range dataStatus(t, c, company) {
			if st != "Complete" {
				t.Errorf("%s: %s ended %s: %s", name, dt, st, failure(t, c, company, dt))
			}
		}
	}
	want := map[string]int{"payments": 5, "billPayments": 3, "creditNotes": 1, "billCreditNotes": 1, "bankAccounts": 4}
	for dt, n := range want {
		var got [2][]string
		for i, company := range companies {
			var page struct {
				Results []json.RawMessage
			}
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
}
