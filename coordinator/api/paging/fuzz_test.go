package paging

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// fuzzRecords hold every kind of value a record field may have.
var fuzzRecords = []map[string]any{
	{},
	{"a": nil, "b": true, "c": 1.5, "d": json.Number("1e999"), "e": "2023-01-01T00:00:00Z",
		"name": "Acme && Co", "amount": "10.10", "x": []any{1.0, "a"}, "z": "\xff\xfe"},
	{"a": map[string]any{"b": map[string]any{"c": "null"}}, "name": strings.Repeat("9", 200),
		"amount": -0.0, "id": 7, "customerRef": map[string]any{"id": nil}},
	{"name": "", "amount": json.Number("-1E-3"), "e": "2023-01-01", "isCompleted": false},
}

func FuzzParseQuery(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.query)
	}
	for _, tt := range queryErrorTests {
		f.Add(tt.query)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != "query" || !strings.HasPrefix(pe.Message, "query: ") {
				t.Fatalf("ParseQuery(%q) error %#v is not a *ParamError for query", s, err)
			}
			if q != nil {
				t.Fatalf("ParseQuery(%q) returned a query and an error", s)
			}
			return
		}
		if q != nil && q.String() != s {
			t.Fatalf("ParseQuery(%q).String() = %q", s, q.String())
		}
		for _, rec := range fuzzRecords {
			if q.Match(rec) != q.Match(rec) {
				t.Fatalf("ParseQuery(%q).Match(%v) is not deterministic", s, rec)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("")
	f.Add("page=2&pageSize=3")
	f.Add("page=0&pageSize=5001")
	f.Add("query=amount%3E1+%26%26+name%3D%7Ba+%26%26+b%7D&orderBy=-amount")
	f.Add("orderBy=a..b&query=(a=1")
	f.Add("page=9223372036854775807&pageSize=1")
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw) // a bad escape still leaves the rest
		p, err := Parse(v)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || !strings.HasPrefix(pe.Message, pe.Param) {
				t.Fatalf("Parse(%q) error %#v is not a *ParamError naming its parameter", raw, err)
			}
			switch pe.Param {
			case "page", "pageSize", "query", "orderBy":
			default:
				t.Fatalf("Parse(%q) error names unknown parameter %q", raw, pe.Param)
			}
			return
		}
		if p.Page < 1 || p.PageSize < 1 || p.PageSize > MaxPageSize {
			t.Fatalf("Parse(%q) = %+v, out of range", raw, p)
		}
		recs := append([]map[string]any(nil), fuzzRecords...)
		page, total := Apply(recs, p)
		if page == nil || len(page) > p.PageSize || total > len(recs) || total < 0 {
			t.Fatalf("Apply(%+v) = %d records of %d", p, len(page), total)
		}
		checkLinksRoundTrip(t, p, total)
	})
}

// checkLinksRoundTrip checks that the current link parses back to p.
func checkLinksRoundTrip(t *testing.T, p Params, total int) {
	t.Helper()
	l := MakeLinks("/x", p, total)
	_, rawQuery, _ := strings.Cut(l.Current.Href, "?")
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("current link %q: %v", l.Current.Href, err)
	}
	got, err := Parse(v)
	if err != nil {
		t.Fatalf("current link %q: %v", l.Current.Href, err)
	}
	if got.Page != p.Page || got.PageSize != p.PageSize || got.OrderBy != p.OrderBy ||
		got.Query.String() != p.Query.String() {
		t.Fatalf("current link %q parses to %+v, want %+v", l.Current.Href, got, p)
	}
}
