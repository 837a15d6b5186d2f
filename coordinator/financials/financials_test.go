package financials

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestParseQuery(t *testing.T) {
	march := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query string
		want  Query
		param string // the parameter refused; "" when accepted
	}{
		{"periodLength=1&periodsToCompare=3", Query{PeriodLength: 1, PeriodsToCompare: 3}, ""},
		{"periodLength=12&periodsToCompare=36&startMonth=2024-03-17", Query{12, 36, march}, ""},
		{"periodLength=3&periodsToCompare=2&startMonth=2024-03-01T00:00:00", Query{3, 2, march}, ""},
		{"periodLength=3&periodsToCompare=2&startMonth=2024-03", Query{3, 2, march}, ""},
		{"periodsToCompare=3", Query{}, "periodLength"},
		{"periodLength=0&periodsToCompare=3", Query{}, "periodLength"},
		{"periodLength=13&periodsToCompare=3", Query{}, "periodLength"},
		{"periodLength=1.5&periodsToCompare=3", Query{}, "periodLength"},
		{"periodLength=1", Query{}, "periodsToCompare"},
		{"periodLength=1&periodsToCompare=0", Query{}, "periodsToCompare"},
		{"periodLength=1&periodsToCompare=37", Query{}, "periodsToCompare"},
		{"periodLength=1&periodsToCompare=2&startMonth=2024-13", Query{}, "startMonth"},
		{"periodLength=1&periodsToCompare=2&startMonth=0999-01-01", Query{}, "startMonth"},
		{"periodLength=1&periodsToCompare=2&startMonth=March", Query{}, "startMonth"},
	} {
		v, _ := url.ParseQuery(tc.query)
		got, err := ParseQuery(v)
		var pe *ParamError
		switch {
		case tc.param == "" && err != nil:
			t.Errorf("%s: %v", tc.query, err)
		case tc.param == "" && got != tc.want:
			t.Errorf("%s: %+v, want %+v", tc.query, got, tc.want)
		case tc.param != "" && (!errors.As(err, &pe) || pe.Param != tc.param || !strings.HasPrefix(pe.Message, tc.param+": ")):
			t.Errorf("%s: error %v, want a *ParamError naming %s", tc.query, err, tc.param)
		}
	}
}

// TestPeriods: the newest period ends with startMonth's month, the
// others before it, and a day's bucket is its period's.
func TestPeriods(t *testing.T) {
	q := Query{PeriodLength: 3, PeriodsToCompare: 2, StartMonth: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	var got []string
	for _, p := range q.periods() {
		got = append(got, p.from.Format("2006-01-02")+".."+p.to.Format("2006-01-02"))
	}
	if want := "2024-01-01..2024-03-31 2023-10-01..2023-12-31"; strings.Join(got, " ") != want {
		t.Errorf("periods %v, want %s", got, want)
	}
	for day, want := range map[string]int{"2024-04-01": -1, "2024-03-31": 0, "2024-01-01": 0, "2023-12-31": 1,
		"2023-10-01": 1, "2023-09-30": 2, "1999-01-01": 2} {
		d, _ := time.Parse("2006-01-02", day)
		if b := q.bucket(d); b != want {
			t.Errorf("bucket(%s) = %d, want %d", day, b, want)
		}
	}
}

// chartAndJournal is a cache of the given accounts and journal entries.
func chartAndJournal(accounts, entries []string) cache {
	c := cache{dataset.ChartOfAccounts: nil, dataset.JournalEntries: nil}
	for i, a := range accounts {
		c[dataset.ChartOfAccounts] = append(c[dataset.ChartOfAccounts], [2]string{fmt.Sprint("a", i), a})
	}
	for i, e := range entries {
		c[dataset.JournalEntries] = append(c[dataset.JournalEntries], [2]string{fmt.Sprint("j", i), e})
	}
	return c
}

// statusCache is a cache whose DataStatus is given.
type statusCache struct {
	cache
	status map[dataset.DataType]store.TypeStatus
}

func (c statusCache) DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error) {
	return c.status, nil
}

func entry(day string, lines ...string) string {
	return `{"postedOn":"` + day + `T00:00:00Z","journalLines":[` + strings.Join(lines, ",") + `]}`
}

func line(account, amount, currency string) string {
	return `{"accountRef":{"id":"` + account + `"},"netAmount":` + amount + `,"currency":"` + currency + `"}`
}

// TestUnavailable: what the cache lacks is said, never guessed at.
func TestUnavailable(t *testing.T) {
	bank := `{"name":"Bank","fullyQualifiedName":"Assets:Bank","type":"Asset"}`
	sales := `{"name":"Sales","fullyQualifiedName":"Income:Sales","type":"Income"}`
	good := chartAndJournal([]string{bank, sales}, []string{entry("2024-03-05", line("a0", "10.00", "EUR"), line("a1", "-10.00", "EUR"))})
	fetching := store.Dataset{ID: "ds-9", Status: dataset.Fetching}
	complete := store.Dataset{ID: "ds-1", Status: dataset.Complete}
	q := Query{PeriodLength: 1, PeriodsToCompare: 2}
	many := make([]string, MaxLines/36+1)
	for i := range many {
		many[i] = bank
	}
	for _, tc := range []struct {
		name string
		st   Store
		q    Query
		want string // in the *Unavailable's message, or the *ParamError's parameter
	}{
		{"chart never synced", statusCache{good, map[dataset.DataType]store.TypeStatus{
			dataset.JournalEntries: {Latest: complete, LatestSuccessful: &complete}}}, q, "chartOfAccounts has never been synced"},
		{"journal not Complete yet", statusCache{good, map[dataset.DataType]store.TypeStatus{
			dataset.ChartOfAccounts: {Latest: complete, LatestSuccessful: &complete},
			dataset.JournalEntries:  {Latest: fetching}}}, q, "journalEntries has no Complete dataset yet (the newest, ds-9, is Fetching)"},
		{"chart older than the journal", chartAndJournal([]string{bank}, []string{entry("2024-03-05", line("a0", "10.00", "EUR"), line("a7", "-10.00", "EUR"))}),
			q, `names account "a7", which the cached chart of accounts lacks`},
		{"two currencies", chartAndJournal([]string{bank, sales}, []string{entry("2024-03-05", line("a0", "10.00", "EUR"), line("a1", "-10.00", "EUR")),
			entry("2024-03-06", line("a0", "10.00", "USD"), line("a1", "-10.00", "USD"))}), q, "in EUR and USD"},
		{"too many lines", chartAndJournal(many, nil), Query{PeriodLength: 1, PeriodsToCompare: 36}, "periodsToCompare"},
	} {
		_, err := GetBalanceSheet(t.Context(), tc.st, "co", tc.q, time.Now())
		var un *Unavailable
		var pe *ParamError
		switch {
		case errors.As(err, &pe):
			if pe.Param != tc.want {
				t.Errorf("%s: %v, want a refusal of %s", tc.name, err, tc.want)
			}
		case !errors.As(err, &un) || !strings.Contains(un.Message, tc.want):
			t.Errorf("%s: %v, want *Unavailable saying %q", tc.name, err, tc.want)
		}
	}
}

// TestCodatPaths: a chart in Codat's form (the CSV connector's) nests
// under grouping lines, its type's own level left out, and a book with
// no entries gives zeros, no available months, and the current month.
func TestCodatPaths(t *testing.T) {
	c := chartAndJournal([]string{
		`{"name":"Business Current Account","fullyQualifiedName":"Asset.Current.Bank.Business Current Account","type":"Asset","currency":"GBP"}`,
		`{"name":"Trade Debtors","fullyQualifiedName":"Asset.Current.Receivables.Trade Debtors","type":"Asset","currency":"GBP"}`,
	}, nil)
	now := time.Date(2025, 7, 9, 12, 0, 0, 0, time.UTC)
	bs, err := GetBalanceSheet(t.Context(), c, "co", Query{PeriodLength: 1, PeriodsToCompare: 1}, now)
	if err != nil {
		t.Fatal(err)
	}
	if bs.Currency != "GBP" || bs.MostRecentAvailableMonth != nil || bs.Reports[0].Date != "2025-07-31T00:00:00Z" {
		t.Errorf("currency %q, latest month %v, date %s: want GBP, none, 2025-07-31", bs.Currency, bs.MostRecentAvailableMonth, bs.Reports[0].Date)
	}
	var shape func(l *Line) string
	shape = func(l *Line) string {
		s := l.Name
		if l.AccountID != "" {
			s += "#" + l.AccountID
		}
		var items []string
		for _, c := range l.Items {
			items = append(items, shape(c))
		}
		if len(items) > 0 {
			s += "[" + strings.Join(items, " ") + "]"
		}
		return s
	}
	if got, want := shape(bs.Reports[0].Assets), "Assets[Current[Bank[Business Current Account#a0] Receivables[Trade Debtors#a1]]]"; got != want {
		t.Errorf("assets nest as %s, want %s", got, want)
	}
}
