package financials

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/memtest"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// benchJournal is a chart of 200 accounts and a journal of n entries of
// two lines each over three years.
func benchJournal(n int) cache {
	accounts := make([]string, 200)
	types := []string{"Asset", "Liability", "Equity", "Income", "Expense"}
	for i := range accounts {
		accounts[i] = fmt.Sprintf(`{"name":"A%d","fullyQualifiedName":"Top%d:A%d","type":"%s","currency":"EUR"}`, i, i%7, i, types[i%5])
	}
	entries := make([]string, n)
	for i := range entries {
		day := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%1095).Format("2006-01-02")
		amount := fmt.Sprintf("%d.%02d", i%5000, i%100)
		entries[i] = entry(day, line(fmt.Sprint("a", i%200), amount, "EUR"), line(fmt.Sprint("a", (i*7+3)%200), "-"+amount, "EUR"))
	}
	return chartAndJournal(accounts, entries)
}

// BenchmarkStatement computes a balance sheet of 36 monthly periods over
// a journal of 100,000 entries, beside the limit measured in the same
// run: reading the same journal once, each entry decoded into the
// standard model (what any use of the cache costs). It reports entries
// per second for both, their ratio, and how far the heap rose while the
// statement was computed.
func BenchmarkStatement(b *testing.B) {
	const n = 100_000
	c := benchJournal(n)
	q := Query{PeriodLength: 1, PeriodsToCompare: 36, StartMonth: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)}
	var scan, stmt time.Duration
	var peak uint64
	for b.Loop() {
		start := time.Now()
		err := c.CachedRecords(b.Context(), "co", string(dataset.JournalEntries), func(id string, rec []byte) error {
			var e model.JournalEntry
			return json.Unmarshal(rec, &e)
		})
		scan += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		var took time.Duration
		p, err := memtest.Burst(1, func(int) error {
			start := time.Now()
			defer func() { took = time.Since(start) }()
			_, err := GetBalanceSheet(b.Context(), c, "co", q, time.Now())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		stmt, peak = stmt+took, max(peak, p)
	}
	per := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(per(stmt), "entries/s")
	b.ReportMetric(per(scan), "limit-entries/s")
	b.ReportMetric(per(stmt)/per(scan), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}
