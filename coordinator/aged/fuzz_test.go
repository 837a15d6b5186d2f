package aged_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/aged"
)

// FuzzParseParams: any query is read without a panic, and what is
// accepted passes Check, its date at midnight UTC.
func FuzzParseParams(f *testing.F) {
	for _, q := range []string{"", "reportDate=2024-05-02&numberOfPeriods=4&periodLengthDays=30",
		"reportDate=2024-05-02T16:05:21.4459444Z", "numberOfPeriods=-1", "periodLengthDays=99999999999999999999",
		"reportDate=0001-01-01", "reportDate=%00"} {
		f.Add(q)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := aged.ParseParams(q, now)
		if err != nil {
			return
		}
		if err := p.Check(); err != nil {
			t.Errorf("accepted %q: %v", raw, err)
		}
		if !p.ReportDate.Equal(p.ReportDate.Truncate(24*time.Hour)) || p.ReportDate.Location() != time.UTC {
			t.Errorf("accepted %q: date %v, want midnight UTC", raw, p.ReportDate)
		}
	})
}
