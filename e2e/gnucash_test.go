package e2e

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// gnucashBooks is the folder of real GnuCash books beside the repo.
var gnucashBooks, _ = filepath.Abs("../../shared/testdata/gnucash")

// failure describes why the newest dataset of a type failed.
func failure(t *testing.T, c *coordinator, company, dt string) string {
	var hist struct {
		Results []struct {
			ID, DataType, Status, ErrorMessage string
		}
	}
	c.do("GET", "/companies/"+company+"/data/history?query=dataType%3D"+dt, nil, &hist)
	if len(hist.Results) == 0 {
		return "no dataset"
	}
	d := hist.Results[0]
	var v struct {
		Errors []struct{ RuleID, ItemID, Message string }
	}
	c.do("GET", "/companies/"+company+"/sync/"+d.ID+"/validation", nil, &v)
	var b strings.Builder
	b.WriteString(d.ErrorMessage)
	for i, e := range v.Errors {
		if i == 5 {
			break
		}
		b.WriteString("; " + e.RuleID + " " + e.ItemID + ": " + e.Message)
	}
	return b.String()
}

// TestOpenGnuCashBooksSync: books GnuCash has open (an XML book with its
// .LCK beside it, an SQLite book with a gnclock row) sync to Complete, and
// every dataset says the book was open, in its validation warnings and its
// statusDescription.
func TestOpenGnuCashBooksSync(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	xmlBook := filepath.Join(dir, "firm.gnucash")
	copyBook(t, filepath.Join(gnucashBooks, "business-de.gnucash.xml"), xmlBook)
	if err := os.WriteFile(xmlBook+".LCK", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sqlBook := filepath.Join(dir, "shop.gnucash")
	copyBook(t, filepath.Join(gnucashBooks, "invoices-sqlite.gnucash"), sqlBook)
	db, err := sql.Open("sqlite", sqlBook)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO gnclock (Hostname, PID) VALUES ('till-pc', 4242)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	config := filepath.Join(t.TempDir(), "agent.json")
	want := map[string]string{xmlBook: "changes not yet saved in GnuCash are not included", sqlBook: "GnuCash on till-pc (process 4242)"}
	companies := map[string]string{}
	for book := range want {
		company, _, code := setupConnection(t, c, "gnucash")
		out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "link", "--config", config,
			"--coordinator", "http://"+c.addr, "--code", code, "--source", "gnucash", "--path", book).CombinedOutput()
		if err != nil {
			t.Fatalf("link %s: %v\n%s", book, err, out)
		}
		companies[book] = company
	}
	runAgent(t, config)
	for book, company := range companies {
		name := filepath.Base(book)
		waitAllEnded(t, c, name, company)
		var hist struct {
			Results []struct{ ID, DataType, Status, StatusDescription string }
		}
		c.do("GET", "/companies/"+company+"/data/history?pageSize=100", nil, &hist)
		if len(hist.Results) == 0 {
			t.Fatalf("%s: no datasets", name)
		}
		for _, d := range hist.Results {
			if d.Status != "Complete" {
				t.Errorf("%s: %s ended %s: %s", name, d.DataType, d.Status, failure(t, c, company, d.DataType))
				continue
			}
			if !strings.Contains(d.StatusDescription, want[book]) || !strings.Contains(d.StatusDescription, "open in GnuCash") {
				t.Errorf("%s: %s statusDescription %q, want it to say the book was open and %q", name, d.DataType, d.StatusDescription, want[book])
			}
			var v struct {
				Warnings []struct{ RuleID, Message, ValidatorName string }
			}
			c.do("GET", "/companies/"+company+"/sync/"+d.ID+"/validation", nil, &v)
			if len(v.Warnings) == 0 || v.Warnings[0].RuleID != "source.bookOpen" || !strings.Contains(v.Warnings[0].Message, want[book]) {
				t.Errorf("%s: %s validation warnings %+v, want source.bookOpen first", name, d.DataType, v.Warnings)
			}
		}
	}
}

func copyBook(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitAllEnded waits until every data type of company (name, in the
// message) has ended.
func waitAllEnded(t *testing.T, c *coordinator, name, company string) {
	t.Helper()
	waitFor(t, 3*time.Minute, name+": every type ended", func() bool {
		for _, st := range dataStatus(t, c, company) {
			switch st {
			case "", "Queued", "Fetching", "Mapping", "Validating", "Processing":
				return false
			}
		}
		return true
	})
}
