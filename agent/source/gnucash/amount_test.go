package gnucash

import (
	"math/big"
	"testing"
	"time"
	_ "time/tzdata" // the zones of TestDates on any machine
)

func TestDecimal(t *testing.T) {
	tests := []struct {
		in     string
		places int
		want   string
	}{
		{"225300/100", 2, "2253.00"},
		{"-9414/100", 2, "-94.14"},
		{"1000000/10000", 4, "100.0000"},
		{"1/8", 2, "0.125"},       // more places when exactness needs them
		{"1/3", 2, "0.333333333"}, // no exact decimal: 9 places
		{"0/0", 2, "0.00"},
		{"5", 0, "5"},
	}
	for _, tt := range tests {
		r, err := parseRat(tt.in)
		if err != nil {
			t.Fatalf("parseRat(%q): %v", tt.in, err)
		}
		if got := decimal(r, tt.places); string(got) != tt.want {
			t.Errorf("decimal(%s, %d) = %s, want %s", tt.in, tt.places, got, tt.want)
		}
	}
	for _, bad := range []string{"1.5", "1e9", "1/0", "x/1", "1/-2", "99999999999999999999/1"} {
		if _, err := parseRat(bad); err == nil {
			t.Errorf("parseRat(%q) read it", bad)
		}
	}
}

func TestRoundTo(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"5/1000", "1/100"}, {"-5/1000", "-1/100"}, {"4999/1000", "5"}, {"44/1000", "4/100"}} {
		r, _ := new(big.Rat).SetString(tt.in)
		w, _ := new(big.Rat).SetString(tt.want)
		if got := roundTo(r, 100); got.Cmp(w) != 0 {
			t.Errorf("roundTo(%s) = %s, want %s", tt.in, got, w)
		}
	}
}

// TestComputeLine: GnuCash's entry arithmetic, checked against figures
// worked out by hand.
func TestComputeLine(t *testing.T) {
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	vat := &taxTable{entries: []taxEntry{{amount: rat("19"), percent: true}}}
	mixed := &taxTable{entries: []taxEntry{{amount: rat("10"), percent: true}, {amount: rat("2"), percent: false}}}
	tests := []struct {
		name           string
		qty, price     string
		tt             *taxTable
		side           entrySide
		net, tax, disc string
	}{
		{"no tax", "3", "69/5", nil, entrySide{}, "41.4", "0", "0"},
		{"tax excluded", "10", "120", vat, entrySide{}, "1200", "228", "0"},
		{"tax included", "3", "25/2", vat, entrySide{taxIncluded: true}, "31.51", "5.99", "0"},
		{"value tax included", "1", "112", mixed, entrySide{taxIncluded: true}, "100", "12", "0"},
		{"percent discount pretax", "1", "100", vat, entrySide{discount: rat("10"), discPercent: true, discHow: "PRETAX"}, "90", "17.1", "10"},
		{"percent discount sametime", "1", "100", vat, entrySide{discount: rat("10"), discPercent: true, discHow: "SAMETIME"}, "90", "19", "10"},
		{"percent discount posttax", "1", "100", vat, entrySide{discount: rat("10"), discPercent: true, discHow: "POSTTAX"}, "88.1", "19", "11.9"},
		{"value discount", "2", "50", nil, entrySide{discount: rat("5"), discHow: "PRETAX"}, "95", "0", "5"},
		{"half cent up", "1", "1/200", nil, entrySide{}, "0.01", "0", "0"},
	}
	for _, tt := range tests {
		l := computeLine(rat(tt.qty), rat(tt.price), tt.tt, tt.side, 100)
		if l.net.Cmp(rat(tt.net)) != 0 || l.tax.Cmp(rat(tt.tax)) != 0 || l.discount.Cmp(rat(tt.disc)) != 0 {
			t.Errorf("%s: net %s tax %s discount %s; want %s %s %s", tt.name,
				l.net.FloatString(2), l.tax.FloatString(2), l.discount.FloatString(2), tt.net, tt.tax, tt.disc)
		}
	}
}

// TestDates: a date stored as an instant in UTC is the date in the zone
// the agent runs in (injected), a date written with an offset is the date
// at that offset, a date stored as a date is that date. Zones east of
// UTC+11 (Auckland, Fiji) and west of UTC (New York, Honolulu) included:
// GnuCash's neutral 10:59 UTC is the same date in each, and an old book's
// local midnight is that day's date in its own zone.
func TestDates(t *testing.T) {
	zone := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	utc, berlin, auckland, fiji, newYork, honolulu := time.UTC, zone("Europe/Berlin"), zone("Pacific/Auckland"),
		zone("Pacific/Fiji"), zone("America/New_York"), zone("Pacific/Honolulu")
	tests := []struct {
		name, in string
		parse    func(string) (stamp, error)
		loc      *time.Location
		day      string
		instant  string
	}{
		{"neutral, UTC", "2023-07-01 10:59:00", parseSQLStamp, utc, "2023-07-01", "2023-07-01T10:59:00Z"},
		{"neutral, Auckland summer", "2023-01-15 10:59:00", parseSQLStamp, auckland, "2023-01-15", "2023-01-15T10:59:00Z"},
		{"neutral, Fiji", "2023-07-01 10:59:00", parseSQLStamp, fiji, "2023-07-01", "2023-07-01T10:59:00Z"},
		{"neutral, Honolulu", "2023-07-01 10:59:00", parseSQLStamp, honolulu, "2023-07-01", "2023-07-01T10:59:00Z"},
		{"neutral, New York", "2023-07-01 10:59:00", parseSQLStamp, newYork, "2023-07-01", "2023-07-01T10:59:00Z"},
		{"old Berlin midnight, Berlin", "2018-02-01 23:00:00", parseSQLStamp, berlin, "2018-02-02", "2018-02-01T23:00:00Z"},
		{"old Berlin midnight, compact", "20150102230000", parseSQLStamp, berlin, "2015-01-03", "2015-01-02T23:00:00Z"},
		// The old rule (from 13:00 UTC, the next day) took these as the day before.
		{"old Auckland midnight (NZDT, +13)", "2014-12-24 11:00:00", parseSQLStamp, auckland, "2014-12-25", "2014-12-24T11:00:00Z"},
		{"old Auckland midnight (NZST, +12)", "2014-06-30 12:00:00", parseSQLStamp, auckland, "2014-07-01", "2014-06-30T12:00:00Z"},
		{"old Fiji midnight (+12)", "2014-06-30 12:00:00", parseSQLStamp, fiji, "2014-07-01", "2014-06-30T12:00:00Z"},
		{"old New York midnight (-5)", "2014-12-24 05:00:00", parseSQLStamp, newYork, "2014-12-24", "2014-12-24T05:00:00Z"},
		{"old Honolulu midnight (-10)", "2014-12-24 10:00:00", parseSQLStamp, honolulu, "2014-12-24", "2014-12-24T10:00:00Z"},
		{"XML in UTC, agent in Auckland", "2023-07-01 10:59:00 +0000", parseXMLStamp, auckland, "2023-07-01", "2023-07-01T10:59:00Z"},
		{"XML in UTC, old Berlin midnight", "2014-12-24 23:00:00 +0000", parseXMLStamp, berlin, "2014-12-25", "2014-12-24T23:00:00Z"},
		// A date written with an offset is the date there, whatever the agent's zone.
		{"XML at +0100", "2014-01-01 00:00:00 +0100", parseXMLStamp, honolulu, "2014-01-01", "2013-12-31T23:00:00Z"},
		{"XML at +1300", "2014-01-01 00:00:00 +1300", parseXMLStamp, newYork, "2014-01-01", "2013-12-31T11:00:00Z"},
		{"XML at -0500", "2000-01-08 17:00:00 -0500", parseXMLStamp, auckland, "2000-01-08", "2000-01-08T22:00:00Z"},
		{"gdate, Auckland", "20141225", parseGDate, auckland, "2014-12-25", "2014-12-25T10:59:00Z"},
		{"gdate, Honolulu", "2014-12-25", parseGDate, honolulu, "2014-12-25", "2014-12-25T10:59:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.parse(tt.in)
			if err != nil {
				t.Fatalf("%q: %v", tt.in, err)
			}
			want := tt.day + "T00:00:00Z"
			if got := s.day(tt.loc); got != want || s.instant() != tt.instant {
				t.Errorf("%q in %s: day %s instant %s, want %s %s", tt.in, tt.loc, got, s.instant(), want, tt.instant)
			}
		})
	}
	if s, err := parseSQLStamp(""); err != nil || !s.IsZero() {
		t.Errorf("an empty SQLite date = %v, %v; want no date", s, err)
	}
	if _, err := parseSQLStamp("yesterday"); err == nil {
		t.Error("parseSQLStamp(yesterday) read it")
	}
}
