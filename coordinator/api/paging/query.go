package paging

import (
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on a query's shape.
const (
	// MaxClauses is the most clauses one query may hold.
	MaxClauses = 50
	// maxNesting bounds parenthesis depth, and so the parser's recursion.
	maxNesting = 20
	// maxNumberLen bounds the text parsed as a decimal, so a long string
	// field cannot make comparison slow.
	maxNumberLen = 100
)

// Query is a parsed Codat query: clauses such as amount>100 or
// customerRef.id=abc combined with && and ||. The grammar, with spaces
// allowed between tokens:
//
//	query  = and { "||" and }
//	and    = term { "&&" term }
//	term   = "(" query ")" | clause
//	clause = field op value
//	field  = name { "." name }          name: ASCII letters and digits
//	op     = "=" | "!=" | ">" | "<" | ">=" | "<=" | "~"
//	value  = "{" text "}" | `"` text `"` | "'" text "'" | bare
//
// A bare value runs to the next && or || (or the ")" closing a group) with
// surrounding spaces trimmed; it may not be empty or start with an operator
// character. Braces (which may nest) or quotes keep any characters, so
// name={Acme && Co} matches "Acme && Co" and name={} an empty name. The bare
// value null is a keyword: field=null matches a missing or null field and
// field!=null any other; {null} is the text "null".
//
// A clause compares the record's field with the value: as exact decimals
// when both are numbers (JSON numbers or numeric strings); as instants when
// the field is a time (RFC 3339, or without offset meaning UTC, or a date
// 2006-01-02) and so is the value; as booleans when the field is a boolean
// and the value true or false; otherwise as case-insensitive text. ~ is a
// case-insensitive contains. A missing or null field, or an object or array,
// satisfies != only.
type Query struct {
	src  string
	root node
}

// node is one element of a parsed query: a clause, an and, or an or.
type node interface {
	match(rec map[string]any) bool
}

type andNode []node

func (n andNode) match(rec map[string]any) bool {
	for _, c := range n {
		if !c.match(rec) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(rec map[string]any) bool {
	for _, c := range n {
		if c.match(rec) {
			return true
		}
	}
	return false
}

// ParseQuery parses a Codat query. An empty or blank query gives a nil
// *Query, which matches every record. Errors are *ParamError for the query
// parameter and give the 1-based byte position of the problem.
func ParseQuery(s string) (*Query, error) {
	if strings.Trim(s, spaces) == "" {
		return nil, nil
	}
	p := &parser{s: s}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.i < len(p.s) {
		return nil, p.errorf("unexpected %q at position %d", p.next(), p.i+1)
	}
	return &Query{src: s, root: root}, nil
}

// Match reports whether rec satisfies the query. A nil Query matches all.
func (q *Query) Match(rec map[string]any) bool {
	return q == nil || q.root.match(rec)
}

// String returns the query as it was written; "" for a nil Query.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	return q.src
}

const spaces = " \t\r\n"

// parser is a recursive-descent parser over the query text.
type parser struct {
	s       string
	i       int // offset of the next unread byte
	depth   int // open parentheses
	clauses int
}

func (p *parser) errorf(format string, args ...any) error {
	return &ParamError{Param: "query", Message: "query: " + fmt.Sprintf(format, args...)}
}

// expected reports that what was expected at the current position.
func (p *parser) expected(what string) error {
	if p.i >= len(p.s) {
		return p.errorf("expected %s at position %d, at the end of the query", what, p.i+1)
	}
	return p.errorf("expected %s at position %d, found %q", what, p.i+1, p.next())
}

// next is the rune at the current position.
func (p *parser) next() string {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return string(r)
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(spaces, p.s[p.i]) >= 0 {
		p.i++
	}
}

// consume skips spaces and then tok if it comes next.
func (p *parser) consume(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *parser) parseOr() (node, error) {
	var terms orNode
	for {
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		if !p.consume("||") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) parseAnd() (node, error) {
	var terms andNode
	for {
		n, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		if !p.consume("&&") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *parser) parseTerm() (node, error) {
	if !p.consume("(") {
		return p.parseClause()
	}
	open := p.i
	if p.depth++; p.depth > maxNesting {
		return nil, p.errorf("parentheses nest deeper than %d at position %d", maxNesting, open)
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.consume(")") {
		return nil, p.errorf("the ( at position %d is never closed", open)
	}
	p.depth--
	return n, nil
}

func (p *parser) parseClause() (node, error) {
	if p.clauses++; p.clauses > MaxClauses {
		return nil, p.errorf("more than %d clauses", MaxClauses)
	}
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && (isNameByte(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	field := p.s[start:p.i]
	switch {
	case field == "":
		return nil, p.expected("a field name (letters, digits and dots)")
	case !validField(field):
		return nil, p.errorf("field name %q at position %d must be dot-separated names "+
			"of letters and digits, at most %d characters", field, start+1, MaxFieldLen)
	}
	p.skipSpace()
	o, ok := p.operator()
	if !ok {
		return nil, p.expected("an operator (=, !=, >, <, >=, <=, ~) after " + field)
	}
	vpos := p.i
	val, bare, err := p.value()
	if err != nil {
		return nil, err
	}
	c := newClause(field, o, val, bare)
	if c.null && o != opEq && o != opNe {
		return nil, p.errorf("null at position %d can only be used with = or !=", vpos+1)
	}
	return c, nil
}

// op is a comparison operator.
type op int

const (
	opEq op = iota
	opNe
	opGt
	opLt
	opGe
	opLe
	opContains
)

// opTexts lists the operators, two-byte ones before their one-byte prefixes.
var opTexts = []struct {
	text string
	op   op
}{{"!=", opNe}, {">=", opGe}, {"<=", opLe}, {"=", opEq}, {">", opGt}, {"<", opLt}, {"~", opContains}}

func (p *parser) operator() (op, bool) {
	for _, o := range opTexts {
		if strings.HasPrefix(p.s[p.i:], o.text) {
			p.i += len(o.text)
			return o.op, true
		}
	}
	return 0, false
}

// value reads a clause's value, reporting whether it was bare (not in
// braces or quotes).
func (p *parser) value() (val string, bare bool, err error) {
	p.skipSpace()
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case '{':
			val, err = p.braced()
		case '"', '\'':
			val, err = p.quoted()
		default:
			val, err = p.bare()
			return val, true, err
		}
		if err == nil {
			err = p.afterValue()
		}
		return val, false, err
	}
	return "", false, p.expected("a value (use {} for an empty one)")
}

// braced reads {text}, where text may hold balanced braces.
func (p *parser) braced() (string, error) {
	start := p.i
	depth := 0
	for ; p.i < len(p.s); p.i++ {
		switch p.s[p.i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				p.i++
				return p.s[start+1 : p.i-1], nil
			}
		}
	}
	return "", p.errorf("the { at position %d is never closed", start+1)
}

// quoted reads "text" or 'text'; there are no escapes.
func (p *parser) quoted() (string, error) {
	start := p.i
	q := p.s[start]
	end := strings.IndexByte(p.s[start+1:], q)
	if end < 0 {
		return "", p.errorf("the %c at position %d is never closed (use {} around values holding quotes)", q, start+1)
	}
	p.i = start + 1 + end + 1
	return p.s[start+1 : p.i-1], nil
}

// afterValue checks that a delimited value is followed by the end, && or
// ||, or the ) of an open group.
func (p *parser) afterValue() error {
	p.skipSpace()
	rest := p.s[p.i:]
	if rest == "" || strings.HasPrefix(rest, "&&") || strings.HasPrefix(rest, "||") ||
		rest[0] == ')' && p.depth > 0 {
		return nil
	}
	return p.expected("&&, || or the end of the query after a value in braces or quotes")
}

// bare reads a value up to && or || or an unbalanced ) closing a group.
func (p *parser) bare() (string, error) {
	start := p.i
	balance := 0
scan:
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '(':
			balance++
		case c == ')' && balance > 0:
			balance--
		case c == ')' && p.depth > 0:
			break scan
		case (c == '&' || c == '|') && strings.HasPrefix(p.s[p.i+1:], string(c)):
			break scan
		}
	}
	val := strings.Trim(p.s[start:p.i], spaces)
	if val == "" {
		p.i = start
		return "", p.expected("a value (use {} for an empty one)")
	}
	if strings.IndexByte("=<>!~", val[0]) >= 0 {
		return "", p.errorf("value %q at position %d starts with an operator; "+
			"put values with special characters in braces, like {%s}", val, start+1, val)
	}
	return val, nil
}

// clause is one field-operator-value comparison, with the value parsed
// ahead of time in each form it may be compared as.
type clause struct {
	path  []string
	op    op
	raw   string // the value, without braces or quotes
	lower string // raw in lower case, for ~
	null  bool
	num   *big.Rat // nil unless raw is a number
	when  time.Time
	isT   bool
	b     bool
	isB   bool
}

func newClause(field string, o op, raw string, bare bool) *clause {
	c := &clause{path: strings.Split(field, "."), op: o, raw: raw, lower: strings.ToLower(raw)}
	c.null = bare && strings.EqualFold(raw, "null")
	c.num, _ = parseDecimal(raw)
	c.when, c.isT = parseTime(raw)
	c.b, c.isB = parseBool(raw)
	return c
}

func (c *clause) match(rec map[string]any) bool {
	v, ok := lookup(rec, c.path)
	missing := !ok || v == nil
	switch {
	case c.null: // ParseQuery allows only = and != with null
		return missing == (c.op == opEq)
	case missing:
		return c.op == opNe
	case c.op == opContains:
		s, ok := scalarString(v)
		return ok && strings.Contains(strings.ToLower(s), c.lower)
	}
	n, ok := c.compare(v)
	if !ok {
		return c.op == opNe
	}
	switch c.op {
	case opEq:
		return n == 0
	case opNe:
		return n != 0
	case opGt:
		return n > 0
	case opLt:
		return n < 0
	case opGe:
		return n >= 0
	default: // opLe
		return n <= 0
	}
}

// compare compares field value v with the clause's value, reporting false
// if v is an object, an array or of no JSON type.
func (c *clause) compare(v any) (int, bool) {
	if c.num != nil {
		if r, ok := toRat(v); ok {
			return r.Cmp(c.num), true
		}
	}
	if c.isT {
		if t, ok := toTime(v); ok {
			return t.Compare(c.when), true
		}
	}
	if b, ok := v.(bool); ok && c.isB {
		return compareBool(b, c.b), true
	}
	s, ok := scalarString(v)
	if !ok {
		return 0, false
	}
	return compareFold(s, c.raw), true
}
