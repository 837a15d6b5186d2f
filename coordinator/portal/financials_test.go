package portal

import (
	"encoding/csv"
	"encoding/json"
	"html"
	"math/big"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestFinancialsPage shows a company's statements in the Portal: first
// why there are none (nothing synced), then, once a real agent has synced
// the CSV sample's chart and journal, each statement as a table whose
// bank balance is the sample's journal added up on its own; bad periods
// are named, and an unknown company or a signed-out browser refused.
func TestFinancialsPage(t *testing.T) {
	e := newEnv(t, "")
	b := e.signedIn(supportKey)
	const page = "/portal/companies/co/financials"

	resp, body := b.get(page)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "chartOfAccounts has never been synced") {
		t.Fatalf("before any sync: %d, want 409 saying chartOfAccounts was never synced:\n%s", resp.StatusCode, body)
	}
	if _, body := b.get("/portal/companies/co"); !strings.Contains(body, `href="`+page+`"`) {
		t.Error("the company page does not link to its financial statements")
	}

	e.online("agent-fin", nil)
	for _, dt := range []dataset.DataType{dataset.ChartOfAccounts, dataset.JournalEntries} {
		ds, err := e.q.Queue(t.Context(), "co", dt, "", "queued by a test")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, string(dt)+" Complete", func() bool {
			d, err := e.st.Dataset(t.Context(), "co", ds.ID)
			if err == nil && d.Status.Terminal() && d.Status != dataset.Complete {
				t.Fatalf("%s ended %s: %s", dt, d.Status, d.ErrorMessage)
			}
			return err == nil && d.Status == dataset.Complete
		})
	}

	resp, body = b.get(page + "?periodLength=1&periodsToCompare=3&startMonth=2024-06")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("statements: %d\n%s", resp.StatusCode, body)
	}
	for _, id := range []string{"balance-sheet", "profit-and-loss"} {
		if !strings.Contains(body, `<table id="`+id+`"`) {
			t.Errorf("no table %s", id)
		}
	}
	// The bank account's row: its balance at each month's end, the
	// newest first, is the sample's journal lines on it added up.
	got := cells(t, body, `data-account="1200"`)
	want := []string{csvBalance(t, "1200", "2024-06-30"), csvBalance(t, "1200", "2024-05-31"), csvBalance(t, "1200", "2024-04-30")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Business Current Account by month %v, the sample's journal gives %v", got, want)
	}
	if net, equity := cells(t, body, `>Net assets<`), cells(t, body, `>Equity<`); strings.Join(net, " ") != strings.Join(equity, " ") {
		t.Errorf("net assets %v, equity %v: the balance sheet does not balance", net, equity)
	}

	resp, body = b.get(page + "?periodLength=0&periodsToCompare=3")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "periodLength") {
		t.Errorf("periodLength=0: %d, want 400 naming periodLength", resp.StatusCode)
	}
	if resp, _ := b.get("/portal/companies/nope/financials"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown company: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.browser().get(page); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed out: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// cells are the values of the first table row holding marker.
func cells(t *testing.T, body, marker string) []string {
	t.Helper()
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no row with %s", marker)
	}
	rowEnd := strings.Index(body[i:], "</tr>")
	var out []string
	for _, m := range regexp.MustCompile(`<td class="num">([^<]*)</td>`).FindAllStringSubmatch(body[i:i+rowEnd], -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// csvBalance adds up the sample's journal lines on an account posted up
// to a day, read from journalEntries.csv on its own.
func csvBalance(t *testing.T, account, day string) string {
	t.Helper()
	f, err := os.Open("../../testdata/sample-csv/journalEntries.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	sum := new(big.Rat)
	for _, r := range rows[1:] {
		if r[col["postedOn"]][:10] > day {
			continue
		}
		var lines []struct {
			AccountRef struct{ ID string }
			NetAmount  json.Number
		}
		if err := json.Unmarshal([]byte(r[col["journalLines"]]), &lines); err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if l.AccountRef.ID == account {
				v, _ := new(big.Rat).SetString(string(l.NetAmount))
				sum.Add(sum, v)
			}
		}
	}
	return sum.FloatString(2)
}
