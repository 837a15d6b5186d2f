package paging

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type rec = map[string]any

// matchTests are queries with a record and whether it should match. They
// also seed FuzzParseQuery.
var matchTests = []struct {
	name  string
	query string
	rec   rec
	want  bool
}{
	// Strings: = and != ignore case, ordering is lexicographic.
	{"eq ignores case", "name=Acme", rec{"name": "ACME"}, true},
	{"eq other", "name=Acme", rec{"name": "Beta"}, false},
	{"ne", "name!=Acme", rec{"name": "Beta"}, true},
	{"ne same but case", "name!=acme", rec{"name": "ACME"}, false},
	{"gt", "name>Acme", rec{"name": "beta"}, true},
	{"gt false", "name>Beta", rec{"name": "acme"}, false},
	{"lt", "name<Beta", rec{"name": "acme"}, true},
	{"ge equal ignoring case", "name>=acme", rec{"name": "ACME"}, true},
	{"le", "name<=Acme", rec{"name": "Aardvark"}, true},
	{"le false", "name<=Aardvark", rec{"name": "Acme"}, false},
	{"gt not also eq", "name>acme", rec{"name": "ACME"}, false},
	{"contains ignores case", "name~CM", rec{"name": "Acme Ltd"}, true},
	{"contains no", "name~xyz", rec{"name": "Acme Ltd"}, false},
	{"contains number text", "amount~10", rec{"amount": 1100.5}, true},
	{"spaces around tokens", " name = Acme Ltd ", rec{"name": "acme ltd"}, true},
	{"unicode case", "name=ÉCOLE", rec{"name": "école"}, true},

	// Numbers compare as exact decimals.
	{"float 10.1 = 10.10", "amount=10.10", rec{"amount": 10.1}, true},
	{"json.Number 10.1 = 10.10", "amount=10.10", rec{"amount": json.Number("10.1")}, true},
	{"string 10.1 = 10.10", "amount=10.10", rec{"amount": "10.1"}, true},
	{"exact beyond float64", "amount=0.1", rec{"amount": json.Number("0.10000000000000000001")}, false},
	{"exact gt beyond float64", "amount>0.1", rec{"amount": json.Number("0.10000000000000000001")}, true},
	{"numeric not lexical", "amount>9", rec{"amount": json.Number("10")}, true},
	{"numeric string lt", "amount<9", rec{"amount": "10"}, false},
	{"exponent", "amount>=1e1", rec{"amount": 10}, true},
	{"negative", "amount<-5", rec{"amount": -10}, true},
	{"int64", "amount=42", rec{"amount": int64(42)}, true},
	{"uint", "amount<43", rec{"amount": uint(42)}, true},
	{"leading zeros", "code=7", rec{"code": "007"}, true},
	{"number vs text", "amount=abc", rec{"amount": 10}, false},
	{"number ne text", "amount!=abc", rec{"amount": 10}, true},
	{"hex is text", "amount=0x10", rec{"amount": 16}, false},

	// Times compare as instants.
	{"time after date", "modifiedDate>2023-01-01", rec{"modifiedDate": "2023-01-01T00:00:01Z"}, true},
	{"time before date", "modifiedDate<2023-01-01", rec{"modifiedDate": "2022-12-31T23:59:59.9999Z"}, true},
	{"same instant other offset", "modifiedDate=2023-01-01T02:00:00+02:00", rec{"modifiedDate": "2023-01-01T00:00:00Z"}, true},
	{"offset not lexical", "modifiedDate>2023-01-01T00:00:00Z", rec{"modifiedDate": "2022-12-31T23:00:00-02:00"}, true},
	{"no offset is UTC", "issueDate>=2023-02-03", rec{"issueDate": "2023-02-03T00:00:00"}, true},
	{"fractional seconds", "requested=2022-11-14T11:18:37.2798351Z", rec{"requested": "2022-11-14T11:18:37.2798351Z"}, true},
	{"time.Time value", "at<2024-01-01", rec{"at": time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)}, true},

	// Booleans.
	{"bool true", "isCompleted=true", rec{"isCompleted": true}, true},
	{"bool upper", "isCompleted=TRUE", rec{"isCompleted": true}, true},
	{"bool false", "isCompleted=false", rec{"isCompleted": true}, false},
	{"bool ne", "isCompleted!=false", rec{"isCompleted": true}, true},
	{"bool order", "isCompleted>false", rec{"isCompleted": true}, true},

	// Nested fields.
	{"nested", "customerRef.id=abc", rec{"customerRef": rec{"id": "ABC"}}, true},
	{"nested deep", "a.b.c>1", rec{"a": rec{"b": rec{"c": 2.5}}}, true},
	{"nested through text", "customerRef.id=abc", rec{"customerRef": "abc"}, false},
	{"nested missing ne", "customerRef.id!=abc", rec{}, true},
	{"object is not a value", "customerRef=abc", rec{"customerRef": rec{"id": "abc"}}, false},
	{"object ne", "customerRef!=abc", rec{"customerRef": rec{"id": "abc"}}, true},
	{"array is not a value", "lines~1", rec{"lines": []any{1.0}}, false},

	// Braces and quotes.
	{"braces", "name={Acme && Co}", rec{"name": "acme && co"}, true},
	{"braces then and", "name={Acme && Co}&&status=Paid", rec{"name": "Acme && Co", "status": "Paid"}, true},
	{"nested braces", "name={a{b}c}", rec{"name": "a{b}c"}, true},
	{"braces keep spaces", "name={ x }", rec{"name": "x"}, false},
	{"braces empty", "name={}", rec{"name": ""}, true},
	{"braced null is text", "name={null}", rec{"name": "null"}, true},
	{"braced null not nil", "name={null}", rec{"name": nil}, false},
	{"braced number", "amount={10.10}", rec{"amount": 10.1}, true},
	{"double quotes", `name="Acme || Co"`, rec{"name": "Acme || Co"}, true},
	{"single quotes", "name='A=B'", rec{"name": "a=b"}, true},
	{"quote inside bare", "name=O'Brien", rec{"name": "O'Brien"}, true},
	{"single ampersand is text", "name=A & B", rec{"name": "A & B"}, true},
	{"parens in bare value", "name=Acme (UK)", rec{"name": "Acme (UK)"}, true},
	{"parens in grouped value", "(name=Acme (UK))", rec{"name": "Acme (UK)"}, true},
	{"unbalanced paren outside a group", "name=:-)", rec{"name": ":-)"}, true},

	// Precedence: && binds tighter than ||.
	{"or first true", "a=1||b=1&&c=1", rec{"a": 1, "b": 0, "c": 0}, true},
	{"and half", "a=1||b=1&&c=1", rec{"a": 0, "b": 1, "c": 0}, false},
	{"and whole", "a=1||b=1&&c=1", rec{"a": 0, "b": 1, "c": 1}, true},
	{"and then or", "a=1&&b=1||c=1", rec{"a": 0, "b": 0, "c": 1}, true},
	{"parens override", "(a=1||b=1)&&c=1", rec{"a": 1, "b": 0, "c": 0}, false},
	{"parens nested", "((a=1) && (b=1 || c=1))", rec{"a": 1, "b": 0, "c": 1}, true},
	{"spaced operators", "a = 1 || b = 1", rec{"b": 1}, true},

	// Missing fields and null.
	{"missing eq", "x=1", rec{}, false},
	{"missing ne", "x!=1", rec{}, true},
	{"missing gt", "x>1", rec{}, false},
	{"missing contains", "x~1", rec{}, false},
	{"nil eq", "x=1", rec{"x": nil}, false},
	{"nil ne", "x!=1", rec{"x": nil}, true},
	{"eq null missing", "x=null", rec{}, true},
	{"eq null nil", "x=NULL", rec{"x": nil}, true},
	{"eq null zero", "x=null", rec{"x": 0}, false},
	{"eq null empty", "x=null", rec{"x": ""}, false},
	{"ne null missing", "x!=null", rec{}, false},
	{"ne null nil", "x!=null", rec{"x": nil}, false},
	{"ne null empty", "x!=null", rec{"x": ""}, true},
}

func TestQueryMatch(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			if got := q.Match(tt.rec); got != tt.want {
				t.Errorf("ParseQuery(%q).Match(%v) = %v, want %v", tt.query, tt.rec, got, tt.want)
			}
		})
	}
}

func TestQueryEmptyMatchesAll(t *testing.T) {
	for _, s := range []string{"", "  ", "\t"} {
		q, err := ParseQuery(s)
		if err != nil || q != nil {
			t.Errorf("ParseQuery(%q) = %v, %v; want nil, nil", s, q, err)
		}
		if !q.Match(rec{}) {
			t.Errorf("nil query does not match")
		}
		if got := q.String(); got != "" {
			t.Errorf("nil query String() = %q, want empty", got)
		}
	}
}

// queryErrorTests are malformed queries and a part of the message each
// must give. They also seed FuzzParseQuery.
var queryErrorTests = []struct {
	query string
	want  string
}{
	{"=1", "expected a field name (letters, digits and dots) at position 1"},
	{"name", "expected an operator (=, !=, >, <, >=, <=, ~) after name at position 5, at the end"},
	{"name Acme", `after name at position 6, found "A"`},
	{"tax_rate=1", `after tax at position 4, found "_"`},
	{"name==x", `value "=x" at position 6 starts with an operator`},
	{"name=", "expected a value (use {} for an empty one) at position 6"},
	{"name=  ", "expected a value (use {} for an empty one) at position 8"},
	{"name=&&b=1", "expected a value (use {} for an empty one) at position 6"},
	{"a=1&&", "expected a field name (letters, digits and dots) at position 6"},
	{"a=1||||b=1", "expected a field name (letters, digits and dots) at position 6"},
	{"a=1 && || b=2", "expected a field name (letters, digits and dots) at position 8"},
	{"(a=1", "the ( at position 1 is never closed"},
	{"(a=1))", `unexpected ")" at position 6`},
	{"()", "expected a field name (letters, digits and dots) at position 2"},
	{"name={Acme", "the { at position 6 is never closed"},
	{"name={a{b}", "the { at position 6 is never closed"},
	{`name="Acme`, "the \" at position 6 is never closed"},
	{"name={a}b", `expected &&, || or the end of the query after a value in braces or quotes at position 9, found "b"`},
	{"name={a})", `expected &&, || or the end`},
	{"a..b=1", `field name "a..b" at position 1 must be`},
	{".a=1", `field name ".a" at position 1 must be`},
	{"a.=1", `field name "a." at position 1 must be`},
	{strings.Repeat("a", 101) + "=1", "at most 100 characters"},
	{"a>null", "null at position 3 can only be used with = or !="},
	{"a~null", "null at position 3 can only be used with = or !="},
	{strings.Repeat("a=1&&", 50) + "a=1", "more than 50 clauses"},
	{strings.Repeat("(", 21) + "a=1" + strings.Repeat(")", 21), "parentheses nest deeper than 20"},
}

func TestParseQueryErrors(t *testing.T) {
	for _, tt := range queryErrorTests {
		q, err := ParseQuery(tt.query)
		var pe *ParamError
		if !errors.As(err, &pe) {
			t.Errorf("ParseQuery(%q) = %v, %v; want a *ParamError", tt.query, q, err)
			continue
		}
		if pe.Param != "query" {
			t.Errorf("ParseQuery(%q) error names %q, want query", tt.query, pe.Param)
		}
		if !strings.HasPrefix(pe.Message, "query: ") || !strings.Contains(pe.Message, tt.want) {
			t.Errorf("ParseQuery(%q) error = %q, want it to contain %q", tt.query, pe.Message, tt.want)
		}
	}
}

func TestParseQueryLimits(t *testing.T) {
	tests := []string{
		strings.Repeat("a=1&&", 49) + "a=1",
		strings.Repeat("(", 20) + "a=1" + strings.Repeat(")", 20),
		strings.Repeat("a", 100) + "=1",
	}
	for _, s := range tests {
		if _, err := ParseQuery(s); err != nil {
			t.Errorf("ParseQuery(%.40q...) = %v, want no error", s, err)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want string // Rat in lowest terms, "" for not a number
	}{
		{"10", "10/1"}, {"-10.50", "-21/2"}, {"+1", "1/1"}, {".5", "1/2"}, {"1.", "1/1"},
		{"1e3", "1000/1"}, {"1E-2", "1/100"}, {"1e999", "1" + strings.Repeat("0", 999) + "/1"},
		{"1e1000", ""}, {"0x10", ""}, {"1_000", ""}, {"1/2", ""}, {"", ""}, {"-", ""},
		{".", ""}, {"e5", ""}, {"1e", ""}, {"Inf", ""}, {"NaN", ""}, {"1 ", ""},
		{strings.Repeat("9", 101), ""},
	}
	for _, tt := range tests {
		r, ok := parseDecimal(tt.in)
		got := ""
		if ok {
			got = r.String()
		}
		if got != tt.want {
			t.Errorf("parseDecimal(%q) = %.20q, want %.20q", tt.in, got, tt.want)
		}
	}
}
