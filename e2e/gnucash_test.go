package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gnucashBooks is the folder of real GnuCash books beside the repo.
var gnucashBooks, _ = filepath.Abs("../../shared/testdata/gnucash")

// TestEveryGnuCashBookSyncs links one agent to every book in
// shared/testdata/gnucash (one binding each, one company each) and checks
// that every data type of every book ends Complete, or NotSupported.
func TestEveryGnuCashBookSyncs(t *testing.T) {
	t.Parallel()
	books, err := filepath.Glob(filepath.Join(gnucashBooks, "*.gnucash*"))
	if err != nil || len(books) == 0 {
		t.Fatalf("no books in %s (%v)", gnucashBooks, err)
	}
	c := startCoordinator(t, t.TempDir(), freeAddr(t))
	config := filepath.Join(t.TempDir(), "agent.json")
	companies := map[string]string{}
	for _, book := range books {
		company, _, code := setupConnection(t, c, "gnucash")
		out, err := exec.Command(filepath.Join(binDir, "ferry-agent"), "link", "--config", config,
			"--coordinator", "http://"+c.addr, "--code", code, "--source", "gnucash", "--path", book).CombinedOutput()
		if err != nil {
			t.Fatalf("link %s: %v\n%s", book, err, out)
		}
		companies[filepath.Base(book)] = company
	}
	runAgent(t, config)
	for name, company := range companies {
		waitFor(t, 3*time.Minute, name+": every type ended", func() bool {
			for _, st := range dataStatus(t, c, company) {
				switch st {
				case "", "Queued", "Fetching", "Mapping", "Validating", "Processing":
					return false
				}
			}
			return true
		})
		statuses := dataStatus(t, c, company)
		t.Logf("%s: %v", name, statuses)
		for dt, st := range statuses {
			if st != "Complete" && st != "NotSupported" {
				t.Errorf("%s: %s ended %s: %s", name, dt, st, failure(t, c, company, dt))
			}
		}
	}
}

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
