// Package paging implements the paging, querying and ordering of the Codat
// Platform API's list endpoints: the page, pageSize, query and orderBy
// parameters, and the _links of a paged response.
//
// Records are handled generically as map[string]any, the decoded JSON of one
// result object, so one implementation serves companies, pull operations and
// cached data records alike.
package paging

import (
	"cmp"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on the paging parameters, as in the Codat Platform API.
const (
	// DefaultPageSize is the page size when pageSize is not given.
	DefaultPageSize = 100
	// MaxPageSize is the largest pageSize accepted.
	MaxPageSize = 5000
	// MaxQueryLen is the longest query accepted, in bytes.
	MaxQueryLen = 2000
	// MaxFieldLen is the longest field name accepted in query and orderBy.
	MaxFieldLen = 100
	// MaxSortWindow is the most records a list that streams its records
	// (the synced data) ranks for one request with orderBy: page ×
	// pageSize. Such a list refuses a sorted request past it (SortWindow).
	MaxSortWindow = 10_000
)

// ParamError reports a paging parameter the client got wrong. Message is
// meant for the client: it names the parameter and says what is allowed.
type ParamError struct {
	Param   string // "page", "pageSize", "query" or "orderBy"
	Message string
}

// Error returns the message, which already names the parameter.
func (e *ParamError) Error() string { return e.Message }

// Params are the paging parameters of one list request.
type Params struct {
	Page     int    // 1-based page number
	PageSize int    // records per page, 1 to MaxPageSize
	Query    *Query // nil selects every record
	OrderBy  string // field name, with a leading "-" for descending; "" keeps the stored order
}

// Parse reads page, pageSize, query and orderBy from request query values,
// applying the defaults for those absent or empty. Other parameters are
// ignored. A bad value gives a *ParamError.
func Parse(v url.Values) (Params, error) {
	p := Params{Page: 1, PageSize: DefaultPageSize}
	var err error
	if p.Page, err = intParam(v, "page", 1, math.MaxInt, 1,
		"page must be an integer of at least 1"); err != nil {
		return Params{}, err
	}
	if p.PageSize, err = intParam(v, "pageSize", 1, MaxPageSize, DefaultPageSize,
		"pageSize must be an integer from 1 to "+strconv.Itoa(MaxPageSize)); err != nil {
		return Params{}, err
	}
	if q := v.Get("query"); q != "" {
		if len(q) > MaxQueryLen {
			return Params{}, &ParamError{Param: "query",
				Message: "query must be at most " + strconv.Itoa(MaxQueryLen) + " bytes long"}
		}
		if p.Query, err = ParseQuery(q); err != nil {
			return Params{}, err
		}
	}
	if o := v.Get("orderBy"); o != "" {
		if !validField(strings.TrimPrefix(o, "-")) {
			return Params{}, &ParamError{Param: "orderBy", Message: "orderBy must be a field name " +
				"of letters, digits and dots (at most " + strconv.Itoa(MaxFieldLen) +
				" characters), with a leading - for descending order"}
		}
		p.OrderBy = o
	}
	return p, nil
}

// intParam reads the integer parameter name, which must lie in [lo, hi].
func intParam(v url.Values, name string, lo, hi, def int, msg string) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &ParamError{Param: name, Message: msg}
	}
	return n, nil
}

// validField reports whether f is a field name: dot-separated non-empty
// runs of ASCII letters and digits, at most MaxFieldLen bytes in all.
func validField(f string) bool {
	if f == "" || len(f) > MaxFieldLen {
		return false
	}
	for part := range strings.SplitSeq(f, ".") {
		if part == "" {
			return false
		}
		for i := range len(part) {
			if !isNameByte(part[i]) {
				return false
			}
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// normalized returns p with out-of-range Page and PageSize replaced, so that
// hand-built Params cannot make Apply or MakeLinks misbehave.
func (p Params) normalized() Params {
	p.Page = max(p.Page, 1)
	if p.PageSize < 1 {
		p.PageSize = DefaultPageSize
	}
	p.PageSize = min(p.PageSize, MaxPageSize)
	return p
}

// Offset is the index of the first record of page p.Page, and false when
// it does not fit in an int: such a page is past the end of any list.
func (p Params) Offset() (int, bool) {
	p = p.normalized()
	if p.Page-1 > math.MaxInt/p.PageSize {
		return 0, false
	}
	return (p.Page - 1) * p.PageSize, true
}

// SortWindow is how many records of a sorted list page p.Page needs
// ranked, page × pageSize, for a list that ranks them as it streams
// (Ranker). Past MaxSortWindow it is a *ParamError naming orderBy and
// page: such a list serves a sorted request only near its start.
func (p Params) SortWindow() (int, error) {
	p = p.normalized()
	if p.Page > MaxSortWindow/p.PageSize {
		return 0, &ParamError{Param: "page", Message: "with orderBy, page × pageSize must be at most " +
			strconv.Itoa(MaxSortWindow) + " (the first " + strconv.Itoa(MaxSortWindow) +
			" records in that order); narrow the query, or page without orderBy"}
	}
	return p.Page * p.PageSize, nil
}

// Apply filters recs by p.Query, orders them by p.OrderBy and returns page
// p.Page of the result together with the number of records that matched.
// recs itself is not reordered. A page past the end is empty, never nil.
func Apply(recs []map[string]any, p Params) (page []map[string]any, total int) {
	p = p.normalized()
	matched := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		if p.Query.Match(r) {
			matched = append(matched, r)
		}
	}
	Sort(matched, p.OrderBy)
	total = len(matched)
	if p.Page > pageCount(total, p.PageSize) {
		return matched[:0], total
	}
	start := (p.Page - 1) * p.PageSize
	end := min(start+p.PageSize, total)
	return matched[start:end:end], total
}

// pageCount is the number of pages total records fill, without overflow.
func pageCount(total, size int) int {
	if total <= 0 {
		return 0
	}
	n := total / size
	if total%size != 0 {
		n++
	}
	return n
}

// Sort orders recs in place by the field orderBy names, descending if it
// starts with "-". The sort is stable. Values compare as in a query: numbers
// as exact decimals, times as instants, booleans false before true, anything
// else as case-insensitive text. Records whose field is missing or null come
// last in either direction. Values of different kinds order numbers, times,
// booleans, text, then objects and arrays. An empty orderBy does nothing.
func Sort(recs []map[string]any, orderBy string) {
	field, desc := strings.CutPrefix(orderBy, "-")
	if field == "" || len(recs) < 2 {
		return
	}
	path := strings.Split(field, ".")
	type item struct {
		key sortKey
		rec map[string]any
	}
	items := make([]item, len(recs))
	for i, r := range recs {
		items[i] = item{keyOf(r, path), r}
	}
	slices.SortStableFunc(items, func(a, b item) int { return order(a.key, b.key, desc) })
	for i := range items {
		recs[i] = items[i].rec
	}
}

// order compares two records' orderBy values as Sort orders them: by
// compare, reversed when desc, and a missing value after any other in
// either direction.
func order(a, b sortKey, desc bool) int {
	if a.kind == kindMissing || b.kind == kindMissing {
		return cmp.Compare(a.kind, b.kind)
	}
	c := a.compare(b)
	if desc {
		return -c
	}
	return c
}

// kind orders values of different kinds when sorting.
type kind int

const (
	kindNumber kind = iota
	kindTime
	kindBool
	kindText
	kindOther // object, array or no JSON type
	kindMissing
)

// sortKey is a record's orderBy value, classified once before sorting.
type sortKey struct {
	kind kind
	num  *big.Rat
	when time.Time
	b    bool
	text string
}

func keyOf(rec map[string]any, path []string) sortKey {
	v, ok := lookup(rec, path)
	if !ok || v == nil {
		return sortKey{kind: kindMissing}
	}
	if r, ok := toRat(v); ok {
		return sortKey{kind: kindNumber, num: r}
	}
	if t, ok := toTime(v); ok {
		return sortKey{kind: kindTime, when: t}
	}
	if b, ok := v.(bool); ok {
		return sortKey{kind: kindBool, b: b}
	}
	if s, ok := scalarString(v); ok {
		return sortKey{kind: kindText, text: s}
	}
	return sortKey{kind: kindOther}
}

func (k sortKey) compare(o sortKey) int {
	if k.kind != o.kind {
		return cmp.Compare(k.kind, o.kind)
	}
	switch k.kind {
	case kindNumber:
		return k.num.Cmp(o.num)
	case kindTime:
		return k.when.Compare(o.when)
	case kindBool:
		return compareBool(k.b, o.b)
	case kindText:
		return compareFold(k.text, o.text)
	}
	return 0
}

// Href is a hypertext reference, as in Codat's HAL links.
type Href struct {
	Href string `json:"href"`
}

// Links are the _links of a paged response.
type Links struct {
	Self     *Href `json:"self"`
	Current  *Href `json:"current"`
	Next     *Href `json:"next,omitempty"`
	Previous *Href `json:"previous,omitempty"`
}

// MakeLinks builds the links of a page of total matching records of the
// list at path (which may carry query parameters of its own). Self is path
// itself; Current, Next and Previous add page and pageSize, and query and
// orderBy when set. Next is set only when a later page holds records,
// Previous only when p.Page > 1.
func MakeLinks(path string, p Params, total int) Links {
	p = p.normalized()
	l := Links{Self: &Href{path}, Current: &Href{p.href(path, p.Page)}}
	if p.Page < pageCount(total, p.PageSize) {
		l.Next = &Href{p.href(path, p.Page+1)}
	}
	if p.Page > 1 {
		l.Previous = &Href{p.href(path, p.Page-1)}
	}
	return l
}

// href is path with the parameters of p, at the given page.
func (p Params) href(path string, page int) string {
	var b strings.Builder
	b.WriteString(path)
	if strings.Contains(path, "?") {
		b.WriteByte('&')
	} else {
		b.WriteByte('?')
	}
	b.WriteString("page=" + strconv.Itoa(page) + "&pageSize=" + strconv.Itoa(p.PageSize))
	if q := p.Query.String(); q != "" {
		b.WriteString("&query=" + url.QueryEscape(q))
	}
	if p.OrderBy != "" {
		b.WriteString("&orderBy=" + url.QueryEscape(p.OrderBy))
	}
	return b.String()
}
