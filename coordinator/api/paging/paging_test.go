package paging

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		raw       string
		wantPage  int
		wantSize  int
		wantQuery string
		wantOrder string
	}{
		{"", 1, 100, "", ""},
		{"page=&pageSize=&query=&orderBy=", 1, 100, "", ""},
		{"page=3&pageSize=20", 3, 20, "", ""},
		{"pageSize=1", 1, 1, "", ""},
		{"pageSize=5000", 1, 5000, "", ""},
		{"page=%2B2", 2, 100, "", ""},
		{"page=2&page=x", 2, 100, "", ""},
		{"query=name%3D%7BAcme+%26%26+Co%7D", 1, 100, "name={Acme && Co}", ""},
		{"query=+", 1, 100, "", ""},
		{"orderBy=-modifiedDate", 1, 100, "", "-modifiedDate"},
		{"orderBy=customerRef.id", 1, 100, "", "customerRef.id"},
		{"orderBy=" + strings.Repeat("a", 100), 1, 100, "", strings.Repeat("a", 100)},
		{"connectionId=x&modifiedDate=y&foo", 1, 100, "", ""},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(v)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.raw, err)
			continue
		}
		if got.Page != tt.wantPage || got.PageSize != tt.wantSize ||
			got.Query.String() != tt.wantQuery || got.OrderBy != tt.wantOrder {
			t.Errorf("Parse(%q) = {%d %d %q %q}, want {%d %d %q %q}", tt.raw,
				got.Page, got.PageSize, got.Query, got.OrderBy,
				tt.wantPage, tt.wantSize, tt.wantQuery, tt.wantOrder)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const (
		pageMsg  = "page must be an integer of at least 1"
		sizeMsg  = "pageSize must be an integer from 1 to 5000"
		orderMsg = "orderBy must be a field name of letters, digits and dots (at most 100 characters), with a leading - for descending order"
	)
	tests := []struct {
		param, value string
		wantMsg      string // "" to check only the prefix
	}{
		{"page", "0", pageMsg},
		{"page", "-1", pageMsg},
		{"page", "abc", pageMsg},
		{"page", "1.5", pageMsg},
		{"page", " 1", pageMsg},
		{"page", "99999999999999999999999", pageMsg},
		{"pageSize", "0", sizeMsg},
		{"pageSize", "5001", sizeMsg},
		{"pageSize", "-5", sizeMsg},
		{"pageSize", "ten", sizeMsg},
		{"query", "name", ""},
		{"query", "a=" + strings.Repeat("x", 1999), "query must be at most 2000 bytes long"},
		{"orderBy", "-", orderMsg},
		{"orderBy", "--name", orderMsg},
		{"orderBy", "name asc", orderMsg},
		{"orderBy", "a..b", orderMsg},
		{"orderBy", ".a", orderMsg},
		{"orderBy", "tax_rate", orderMsg},
		{"orderBy", strings.Repeat("a", 101), orderMsg},
	}
	for _, tt := range tests {
		_, err := Parse(url.Values{tt.param: {tt.value}})
		var pe *ParamError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%s=%.20q) error = %v, want a *ParamError", tt.param, tt.value, err)
			continue
		}
		if pe.Param != tt.param {
			t.Errorf("Parse(%s=%.20q) error names %q, want %q", tt.param, tt.value, pe.Param, tt.param)
		}
		if !strings.HasPrefix(pe.Error(), tt.param) || tt.wantMsg != "" && pe.Error() != tt.wantMsg {
			t.Errorf("Parse(%s=%.20q) error = %q, want %q", tt.param, tt.value, pe.Error(), tt.wantMsg)
		}
	}
}

func TestParseQueryAtLimit(t *testing.T) {
	q := "a=" + strings.Repeat("x", 1998)
	p, err := Parse(url.Values{"query": {q}})
	if err != nil || p.Query.String() != q {
		t.Errorf("Parse of a 2000-byte query = %v, %v; want it parsed", p.Query, err)
	}
}

// ids returns the "id" field of each record, for compact comparison.
func ids(recs []map[string]any) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprint(r["id"])
	}
	return out
}

func sortRecords() []map[string]any {
	return []map[string]any{
		{"id": "a", "amount": json.Number("10.10"), "name": "beta", "date": "2023-01-01T00:00:00Z", "ref": rec{"n": 2}},
		{"id": "b", "amount": 9.5, "name": "Alpha", "date": "2022-12-31T23:00:00-02:00", "ok": true},
		{"id": "c", "name": nil, "date": "2022-06-01", "ref": rec{"n": 1}, "ok": false},
		{"id": "d", "amount": "100", "name": "alpha", "date": "2023-01-01T00:30:00Z", "ref": rec{"n": 3}},
		{"id": "e", "amount": 10.1, "name": "gamma", "ok": true},
		{"id": "f", "amount": -3, "name": "Beta"},
	}
}

func TestSort(t *testing.T) {
	tests := []struct {
		orderBy string
		want    string
	}{
		{"", "a b c d e f"},
		{"amount", "f b a e d c"},   // exact decimals; 10.10 = 10.1 keep input order; missing last
		{"-amount", "d a e b f c"},  // ties still in input order; missing still last
		{"name", "b d a f e c"},     // case-insensitive, stable; null last
		{"-name", "e a f b d c"},    // descending
		{"date", "c a d b e f"},     // instants: b is 01:00Z, after d
		{"-date", "b d a c e f"},    // missing last
		{"ref.n", "c a d b e f"},    // nested
		{"ok", "c b e a d f"},       // false before true
		{"nothing", "a b c d e f"},  // all missing: unchanged
		{"-nothing", "a b c d e f"}, // all missing: unchanged
	}
	for _, tt := range tests {
		recs := sortRecords()
		Sort(recs, tt.orderBy)
		if got := strings.Join(ids(recs), " "); got != tt.want {
			t.Errorf("Sort(%q) = %s, want %s", tt.orderBy, got, tt.want)
		}
	}
}

func TestSortMixedKinds(t *testing.T) {
	recs := []map[string]any{
		{"id": "text", "v": "x"}, {"id": "obj", "v": rec{}}, {"id": "none"},
		{"id": "bool", "v": true}, {"id": "time", "v": "2023-01-01"}, {"id": "num", "v": 1},
	}
	Sort(recs, "v")
	want := "num time bool text obj none"
	if got := strings.Join(ids(recs), " "); got != want {
		t.Errorf("Sort mixed kinds = %s, want %s", got, want)
	}
}

func TestSortMissingLast(t *testing.T) {
	tests := []struct {
		orderBy string
		want    string
	}{
		{"v", "one two none null"},
		{"-v", "two one none null"},
	}
	for _, tt := range tests {
		recs := []map[string]any{{"id": "none"}, {"id": "two", "v": 2}, {"id": "null", "v": nil}, {"id": "one", "v": 1}}
		Sort(recs, tt.orderBy)
		if got := strings.Join(ids(recs), " "); got != tt.want {
			t.Errorf("Sort(%q) = %s, want %s", tt.orderBy, got, tt.want)
		}
	}
}

// pagedRecords are n records with ids r01... and amount = their number.
func pagedRecords(n int) []map[string]any {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprintf("r%02d", i+1), "amount": float64(i + 1), "even": (i+1)%2 == 0}
	}
	return recs
}

func TestApply(t *testing.T) {
	mustQuery := func(s string) *Query {
		q, err := ParseQuery(s)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	tests := []struct {
		name      string
		p         Params
		want      string
		wantTotal int
	}{
		{"first page", Params{Page: 1, PageSize: 5}, "r01 r02 r03 r04 r05", 12},
		{"middle page", Params{Page: 2, PageSize: 5}, "r06 r07 r08 r09 r10", 12},
		{"last partial page", Params{Page: 3, PageSize: 5}, "r11 r12", 12},
		{"past the end", Params{Page: 4, PageSize: 5}, "", 12},
		{"far past the end", Params{Page: 1 << 62, PageSize: 5000}, "", 12},
		{"zero params use defaults", Params{}, "r01 r02 r03 r04 r05 r06 r07 r08 r09 r10 r11 r12", 12},
		{"filtered", Params{Page: 1, PageSize: 2, Query: mustQuery("even=true")}, "r02 r04", 6},
		{"filtered last page", Params{Page: 3, PageSize: 2, Query: mustQuery("even=true")}, "r10 r12", 6},
		{"ordered", Params{Page: 1, PageSize: 3, OrderBy: "-amount"}, "r12 r11 r10", 12},
		{"filtered and ordered", Params{Page: 2, PageSize: 2, OrderBy: "-amount",
			Query: mustQuery("amount>3 && amount<=9")}, "r07 r06", 6},
		{"nothing matches", Params{Page: 1, PageSize: 5, Query: mustQuery("amount>100")}, "", 0},
	}
	for _, tt := range tests {
		recs := pagedRecords(12)
		page, total := Apply(recs, tt.p)
		if got := strings.Join(ids(page), " "); got != tt.want || total != tt.wantTotal {
			t.Errorf("%s: Apply = %q, %d; want %q, %d", tt.name, got, total, tt.want, tt.wantTotal)
		}
		if page == nil {
			t.Errorf("%s: Apply returned a nil page, want an empty one", tt.name)
		}
		if !reflect.DeepEqual(recs, pagedRecords(12)) {
			t.Errorf("%s: Apply changed its input", tt.name)
		}
	}
}

func TestMakeLinks(t *testing.T) {
	q, err := ParseQuery("name={Acme && Co}")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/companies"
	at := func(page int) string { return fmt.Sprintf("/companies?page=%d&pageSize=2", page) }
	tests := []struct {
		name        string
		path        string
		p           Params
		total       int
		wantCurrent string
		wantNext    string // "" for none
		wantPrev    string
	}{
		{"first page", path, Params{Page: 1, PageSize: 2}, 5, at(1), at(2), ""},
		{"middle page", path, Params{Page: 2, PageSize: 2}, 5, at(2), at(3), at(1)},
		{"last page", path, Params{Page: 3, PageSize: 2}, 5, at(3), "", at(2)},
		{"exactly full last page", path, Params{Page: 2, PageSize: 2}, 4, at(2), "", at(1)},
		{"past the end", path, Params{Page: 9, PageSize: 2}, 5, at(9), "", at(8)},
		{"empty result", path, Params{Page: 1, PageSize: 2}, 0, at(1), "", ""},
		{"defaults", path, Params{}, 0, "/companies?page=1&pageSize=100", "", ""},
		{"query and orderBy", path, Params{Page: 1, PageSize: 2, Query: q, OrderBy: "-modifiedDate"}, 3,
			"/companies?page=1&pageSize=2&query=name%3D%7BAcme+%26%26+Co%7D&orderBy=-modifiedDate",
			"/companies?page=2&pageSize=2&query=name%3D%7BAcme+%26%26+Co%7D&orderBy=-modifiedDate", ""},
		{"path with parameters", "/companies/x/data/history?connectionId=y", Params{Page: 1, PageSize: 2}, 3,
			"/companies/x/data/history?connectionId=y&page=1&pageSize=2",
			"/companies/x/data/history?connectionId=y&page=2&pageSize=2", ""},
	}
	for _, tt := range tests {
		l := MakeLinks(tt.path, tt.p, tt.total)
		if got := href(l.Self); got != tt.path {
			t.Errorf("%s: self = %q, want %q", tt.name, got, tt.path)
		}
		if got := href(l.Current); got != tt.wantCurrent {
			t.Errorf("%s: current = %q, want %q", tt.name, got, tt.wantCurrent)
		}
		if got := href(l.Next); got != tt.wantNext {
			t.Errorf("%s: next = %q, want %q", tt.name, got, tt.wantNext)
		}
		if got := href(l.Previous); got != tt.wantPrev {
			t.Errorf("%s: previous = %q, want %q", tt.name, got, tt.wantPrev)
		}
	}
}

func href(h *Href) string {
	if h == nil {
		return ""
	}
	return h.Href
}

func TestLinksJSON(t *testing.T) {
	tests := []struct {
		l    Links
		want string
	}{
		{MakeLinks("/companies", Params{Page: 1, PageSize: 100}, 1),
			`{"self":{"href":"/companies"},"current":{"href":"/companies?page=1&pageSize=100"}}`},
		{MakeLinks("/c", Params{Page: 2, PageSize: 1}, 3),
			`{"self":{"href":"/c"},"current":{"href":"/c?page=2&pageSize=1"},` +
				`"next":{"href":"/c?page=3&pageSize=1"},"previous":{"href":"/c?page=1&pageSize=1"}}`},
	}
	for _, tt := range tests {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(tt.l); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(b.String(), "\n"); got != tt.want {
			t.Errorf("json.Marshal(links) = %s, want %s", got, tt.want)
		}
	}
}
