package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/shared/jsonlex"
)

// skipSpace is the index of the first byte at or after i that is not
// JSON's white space.
func skipSpace(b []byte, i int) int {
	l := jsonlex.Lexer{B: b, I: i}
	l.Space()
	return l.I
}

// recordIDBefore is RecordID as it was before it read a line once:
// json.Valid, then a walk of the keys. RecordID must accept and refuse
// exactly the lines it did, with the same errors.
func recordIDBefore(line []byte) (string, error) {
	if len(line) > MaxRecordBytes {
		return "", fmt.Errorf("record over %d bytes", MaxRecordBytes)
	}
	if !utf8.Valid(line) {
		return "", errors.New("not UTF-8")
	}
	if !json.Valid(line) {
		var v json.RawMessage
		return "", fmt.Errorf("not JSON: %v", json.Unmarshal(line, &v))
	}
	i := skipSpace(line, 0)
	if line[i] != '{' {
		return "", errors.New("not a JSON object")
	}
	var (
		id    string
		found bool
		keys  keySet
	)
	for i = skipSpace(line, i+1); line[i] != '}'; {
		end := beforeEndOfString(line, i)
		key, err := unquoteBytes(line[i:end])
		if err != nil {
			return "", err
		}
		if !keys.add(key) {
			return "", fmt.Errorf("key %q twice", truncate(string(key), 64))
		}
		i = skipSpace(line, skipSpace(line, end)+1)
		end = beforeEndOfValue(line, i)
		if string(key) == "id" {
			if line[i] != '"' {
				return "", errors.New(`"id" is not a string`)
			}
			if id, err = unquote(line[i:end]); err != nil {
				return "", err
			}
			found = true
		}
		if i = skipSpace(line, end); line[i] == ',' {
			i = skipSpace(line, i+1)
		}
	}
	if !found {
		return "", errors.New(`no "id"`)
	}
	return id, CheckRecordID(id)
}

func beforeEndOfString(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

func beforeEndOfValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return beforeEndOfString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = beforeEndOfString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) {
		i++
	}
	return i
}

// recordIDLines are lines at every edge of JSON's grammar and of
// RecordID's rules: each must get the answer it got before.
var recordIDLines = []string{
	`{"id":"a"}`, ` {"id":"a"} `, "\t{\r\n\"id\"\t:\n\"a\"\r}\n", `{"id":"a",}`, `{"id":"a"`, `{"id":"a"}}`,
	`{"id":"a"} x`, `{"id":"a"}{}`, `{"id" "a"}`, `{"id":"a" "b":1}`, `{,"id":"a"}`, `{"id":"a",,"b":1}`,
	`{id:"a"}`, `{'id':"a"}`, `{}`, `{ }`, `[]`, `"id"`, `1`, `null`, ``, ` `, `{`, `}`, `{"`, `{"id`, `{"id":`,
	`{"id":1}`, `{"id":null}`, `{"id":["a"]}`, `{"id":""}`, `{"id":"\u0000"}`, `{"id":"\u0041"}`, `{"i\u0064":"a"}`,
	`{"id":"a","id":"b"}`, `{"id":"a","i\u0064":"b"}`, `{"a":1,"a":2}`, `{"a":1,"a":2,"b":`, `{"a":1,"a":2,"id":"x"}`,
	`{"id":"a","b":"\x"}`, `{"id":"a","b":"\u12"}`, `{"id":"a","b":"\u12g4"}`, `{"id":"a","b":"\uABCD"}`,
	`{"id":"a","b":"\"\\\/\b\f\n\r\t"}`, `{"id":"a","b":"` + "\x01" + `"}`, `{"id":"a","b":"` + "\x7f" + `"}`,
	`{"id":"a","b":"\`, `{"id":"a","b":"\"}`, `{"id":"a","n":0}`, `{"id":"a","n":-0}`, `{"id":"a","n":01}`,
	`{"id":"a","n":-}`, `{"id":"a","n":1.}`, `{"id":"a","n":.5}`, `{"id":"a","n":1.5e}`, `{"id":"a","n":1.5e+}`,
	`{"id":"a","n":1.5E-07}`, `{"id":"a","n":1e5}`, `{"id":"a","n":+1}`, `{"id":"a","n":1_0}`, `{"id":"a","n":0x10}`,
	`{"id":"a","n":-12.50e+3}`, `{"id":"a","n":NaN}`, `{"id":"a","n":Infinity}`, `{"id":"a","t":true,"f":false,"z":null}`,
	`{"id":"a","t":tru}`, `{"id":"a","t":truee}`, `{"id":"a","t":True}`, `{"id":"a","z":nul}`,
	`{"id":"a","o":{"x":[1,{"y":[]},"z"]}}`, `{"id":"a","o":[1,]}`, `{"id":"a","o":[,1]}`, `{"id":"a","o":[1 2]}`,
	`{"id":"a","o":{"x":1,}}`, `{"id":"a","o":{"x"}}`, `{"id":"a","o":{1:2}}`, `{"id":"a","o":[}`, `{"id":"a","o":{]}`,
	`{"id":"a","o":[[[]]]}`, `{"id":"a","o":[[[]]}`, `{"id":"a","o":"]}"}`, `{"id":"a","o":{"id":1}}`,
	`{"id":"` + strings.Repeat("x", MaxRecordIDBytes+1) + `"}`, `{"id":"a` + "\\u0007" + `"}`,
	`{"id":"a","` + strings.Repeat("k", 100) + `":1,"` + strings.Repeat("k", 100) + `":2}`,
	"{\"id\":\"a\",\"b\":\"\xff\"}", `{"id":"a"}` + "\x00", "\xef\xbb\xbf" + `{"id":"a"}`,
}

func TestRecordIDAsBefore(t *testing.T) {
	for _, line := range recordIDLines {
		checkAsBefore(t, []byte(line))
	}
	// encoding/json refuses nesting past 10,000 arrays and objects.
	for _, depth := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closing := map[string]string{"[": "]", `{"a":`: "}"}[open]
			line := `{"id":"a","o":` + strings.Repeat(open, depth-1) + `1` + strings.Repeat(closing, depth-1) + `}`
			checkAsBefore(t, []byte(line))
		}
	}
}

// checkAsBefore fails unless RecordID gives line the answer it gave
// before.
func checkAsBefore(t *testing.T, line []byte) {
	t.Helper()
	id, err := RecordID(line)
	wantID, wantErr := recordIDBefore(line)
	if id != wantID || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("RecordID(%.80q) = %q, %v; before: %q, %v", line, id, err, wantID, wantErr)
	}
}

func FuzzRecordID(f *testing.F) {
	for _, line := range recordIDLines {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkAsBefore(t, line)
	})
}

// BenchmarkRecordID checks the benchmark's invoices as the coordinator
// checks each line of a page, and reports the bytes per second beside
// json.Valid's alone over the same lines (records/json-valid) and
// beside RecordID as it was (records/before): that was json.Valid and a
// walk of the keys, so below json.Valid's; reading the line once, it is
// above.
func BenchmarkRecordID(b *testing.B) {
	var lines [][]byte
	var n int
	for i := range 1000 {
		line := fmt.Appendf(nil, `{"id":"inv-%07d","invoiceNumber":"INV-%07d","customerRef":{"id":"cus-%05d","companyName":"Customer %d Ltd"},`+
			`"issueDate":"2026-01-01T00:00:00Z","dueDate":"2026-02-01T00:00:00Z","currency":"GBP",`+
			`"subTotal":"%d.00","totalTaxAmount":"%d.20","totalAmount":"%d.20","amountDue":"%d.20","status":"Submitted","lines":[{"n":1.5e3}]}`,
			i, i, i%5000, i%5000, i, i/5, i, i)
		lines = append(lines, line)
		n += len(line)
	}
	// Each rate is the best of five rounds of 50 ms, taken in turns.
	rate := func(check func([]byte) bool) func() float64 {
		var best float64
		return func() float64 {
			start, rounds := time.Now(), 0
			for ; time.Since(start) < 50*time.Millisecond; rounds++ {
				for _, l := range lines {
					if !check(l) {
						b.Fatalf("refused %s", l)
					}
				}
			}
			best = max(best, float64(rounds*n)/time.Since(start).Seconds())
			return best
		}
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, l := range lines {
			if _, err := RecordID(l); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	recordID, valid := rate(func(l []byte) bool { _, err := RecordID(l); return err == nil }), rate(json.Valid)
	before := rate(func(l []byte) bool { _, err := recordIDBefore(l); return err == nil })
	var got, limit, was float64
	for range 5 {
		got, limit, was = recordID(), valid(), before()
	}
	b.ReportMetric(got/(1<<20), "recordid-MiB/s")
	b.ReportMetric(limit/(1<<20), "json-valid-MiB/s")
	b.ReportMetric(got/limit, "records/json-valid")
	b.ReportMetric(was/(1<<20), "before-MiB/s")
	b.ReportMetric(got/was, "records/before")
}
