package gnucash

import (
	"fmt"
	"strings"
	"time"
)

// stamp is a point in time read from a book. GnuCash keeps a calendar
// date (a transaction's date posted, an invoice's date opened) as an
// instant too: 10:59:00 UTC in books written since GnuCash 2.6.10 (its
// "neutral time", the same date in every time zone from UTC-10:59 to
// UTC+13), local midnight in older ones.
type stamp struct {
	t time.Time
	// offset is whether the book wrote the instant with a non-zero UTC
	// offset (XML from a writer outside UTC): then that zone's date is the
	// date the user saw.
	offset bool
	// date is a calendar date stored as one (a gdate): no zone applies.
	date bool
}

func (s stamp) IsZero() bool { return s.t.IsZero() }

// instant is the stamp in RFC 3339, UTC: for times of day (date entered).
func (s stamp) instant() string { return s.t.UTC().Format("2006-01-02T15:04:05Z") }

// day is the calendar date the stamp stands for, as RFC 3339 at midnight
// UTC: the date in the book's own time zone where the book records one,
// else in loc, the agent's. A book records its zone only as the UTC
// offset an older XML writer put on each date ("2014-01-01 00:00:00
// +1300"); GnuCash keeps no zone anywhere else in a book (not in its
// options, its features or its slots), and SQLite books and newer XML
// store UTC. So an instant written with an offset is the date at that
// offset; an instant in UTC is the date in loc, which reads both GnuCash's
// neutral 10:59 UTC and an old book's local midnight (23:00 UTC the day
// before, for Berlin; 11:00 UTC the day before, for Auckland) as the date
// the user entered, when the agent runs in the zone the book is kept in.
// A date stored as a date is that date.
func (s stamp) day(loc *time.Location) string {
	t := s.t
	if loc == nil {
		loc = time.Local
	}
	switch {
	case s.date:
		t = t.UTC()
	case !s.offset:
		t = t.In(loc)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05Z")
}

// dayStamp makes a stamp of a calendar date (a gdate).
func dayStamp(y int, m time.Month, d int) stamp {
	return stamp{t: time.Date(y, m, d, 10, 59, 0, 0, time.UTC), date: true}
}

// parseXMLStamp reads an XML book's <ts:date>: "2014-01-01 10:59:00 +0100".
// Very old writers left the offset out; their instant is taken as UTC.
func parseXMLStamp(s string) (stamp, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			_, off := t.Zone()
			return stamp{t: t, offset: off != 0}, nil
		}
	}
	return stamp{}, fmt.Errorf("%q is not a GnuCash date (2006-01-02 15:04:05 +0100)", truncate(s, 40))
}

// parseSQLStamp reads an SQLite book's date column, always UTC: newer books
// write "2014-01-01 10:59:00", books before GnuCash 2.6.20 "20140101105900".
// An empty column is no date.
func parseSQLStamp(s string) (stamp, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return stamp{}, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "20060102150405"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return stamp{t: t}, nil
		}
	}
	return stamp{}, fmt.Errorf("%q is not a GnuCash date (2006-01-02 15:04:05 or 20060102150405)", truncate(s, 40))
}

// parseGDate reads a date without a time: "2014-01-01" (XML's <gdate>) or
// "20140101" (SQLite's gdate_val).
func parseGDate(s string) (stamp, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return dayStamp(t.Date()), nil
		}
	}
	return stamp{}, fmt.Errorf("%q is not a date (2006-01-02)", truncate(s, 40))
}
