package financials

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds on what a request may ask for. A report holds one value per
// account and period, and its answer one line per account and period, so
// the product is bounded too (MaxLines).
const (
	// MaxPeriodLength is the longest period, in months: a year.
	MaxPeriodLength = 12
	// MaxPeriodsToCompare is the most periods one report holds.
	MaxPeriodsToCompare = 36
	// MaxLines bounds accounts × periods: a chart of 2,000 accounts over
	// 36 periods, or of 72,000 over one.
	MaxLines = 72_000
)

// Query is the periods a report covers: PeriodsToCompare periods of
// PeriodLength months, the newest first. The newest ends with the month of
// StartMonth; each one before it ends where the next begins.
type Query struct {
	PeriodLength     int
	PeriodsToCompare int
	// StartMonth is the first day of the newest period's last month, UTC;
	// zero: the latest month the journal has an entry in (or the current
	// month when it has none).
	StartMonth time.Time
}

// ParamError is a query parameter the caller got wrong; Message names it
// and says what is allowed.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Message }

func paramErrorf(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, Message: param + ": " + fmt.Sprintf(format, args...)}
}

// ParseQuery reads periodLength and periodsToCompare (both required, as
// in Codat's API) and startMonth (optional) from a query string.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	var err error
	if q.PeriodLength, err = intParam(v, "periodLength", MaxPeriodLength); err != nil {
		return Query{}, err
	}
	if q.PeriodsToCompare, err = intParam(v, "periodsToCompare", MaxPeriodsToCompare); err != nil {
		return Query{}, err
	}
	if s := v.Get("startMonth"); s != "" {
		if q.StartMonth, err = ParseMonth(s); err != nil {
			return Query{}, err
		}
	}
	return q, nil
}

// intParam reads a required whole number from 1 to most.
func intParam(v url.Values, name string, most int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return 0, paramErrorf(name, "is required: a whole number from 1 to %d", most)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, paramErrorf(name, "%q is not a whole number from 1 to %d", clip(s), most)
	}
	return n, nil
}

// monthLayouts are the forms startMonth may take: Codat's date-times, a
// date, or a month alone.
var monthLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02", "2006-01"}

// ParseMonth reads startMonth: a date (any day of the month, with or
// without a time) or a month, 2024-03. It returns the month's first day.
func ParseMonth(s string) (time.Time, error) {
	for _, layout := range monthLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1000 || t.Year() > 9999 {
				break
			}
			return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, paramErrorf("startMonth", "%q is not a month: write it as 2024-03-01 (or 2024-03)", clip(s))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// period is one report's span of whole days, from and to inclusive, UTC.
type period struct{ from, to time.Time }

// periods are q's periods, the newest first; q.StartMonth must be set.
func (q Query) periods() []period {
	out := make([]period, q.PeriodsToCompare)
	for k := range out {
		end := q.StartMonth.AddDate(0, -k*q.PeriodLength, 0)
		out[k] = period{from: end.AddDate(0, 1-q.PeriodLength, 0), to: end.AddDate(0, 1, -1)}
	}
	return out
}

// bucket says where a day falls: -1 after the newest period (not counted),
// 0 to PeriodsToCompare-1 in that period, PeriodsToCompare before the
// oldest (the opening balance).
func (q Query) bucket(day time.Time) int {
	months := monthIndex(q.StartMonth) - monthIndex(day)
	if months < 0 {
		return -1
	}
	return min(months/q.PeriodLength, q.PeriodsToCompare)
}

func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }
