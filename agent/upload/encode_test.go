package upload

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// stdJSON is what a json.Encoder without HTML escaping writes for v,
// without its newline.
func stdJSON(t testing.TB, v any) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// TestAppendRecordMatchesEncodingJSON: every value appendRecord takes is
// written byte for byte as encoding/json writes it, and every value it
// leaves (ok false) appends nothing.
func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	deep := map[string]any{"id": "deep"}
	for range maxEncodeDepth + 2 {
		deep = map[string]any{"id": "x", "in": deep}
	}
	taken := []any{
		map[string]any{"id": "C0000001", "customerName": "Customer 1 of 0 Ltd", "status": "Active"},
		map[string]any{"id": "quote\" backslash\\ slash/ <html> & amp", "tab": "a\tb\nc\rd\be\ff\x00\x1f\x7f"},
		map[string]any{"id": "utf8", "s": "café ünïcødé 日本 \u2028 \u2029 \xff\xfe bad", "e": ""},
		map[string]any{"id": "n", "f": []any{0.0, math.Copysign(0, -1), 1.5, -123.456, 1e-7, 1e-6, 1e20, 1e21, 123456789012345678.0, math.MaxFloat64, math.SmallestNonzeroFloat64}},
		map[string]any{"id": "i", "a": 0, "b": -1, "c": int64(math.MinInt64), "d": int32(7), "e": uint64(math.MaxUint64), "t": true, "f": false, "z": nil},
		map[string]any{"id": "num", "a": json.Number("12.50"), "b": json.Number(""), "c": json.Number("-0.1e+10"), "d": json.Number("3E-2")},
		map[string]any{"id": "nest", "m": map[string]any{"b": 1, "a": map[string]any{}}, "l": []any{}, "nl": []any(nil), "nm": map[string]any(nil),
			"lines": []map[string]any{{"x": "1"}, {"y": []any{"2", 3}}}, "nlines": []map[string]any(nil)},
		map[string]any{},
		"a string",
		nil,
	}
	for _, v := range taken {
		want, err := stdJSON(t, v)
		if err != nil {
			t.Fatalf("encoding/json %v: %v", v, err)
		}
		got, ok := appendRecord([]byte("prefix"), v)
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("appendRecord(%v):\n got %s, %v\nwant prefix%s", v, got, ok, want)
		}
	}
	left := []any{
		map[string]any{"id": "nan", "f": math.NaN()},
		map[string]any{"id": "inf", "f": math.Inf(-1)},
		map[string]any{"id": "bad number", "n": json.Number("1.")},
		map[string]any{"id": "f32", "f": float32(1.5)},
		map[string]any{"id": "typed map", "m": map[string]string{"a": "b"}},
		map[string]any{"id": "struct", "s": struct{ A int }{1}},
		deep,
	}
	for _, v := range left {
		if got, ok := appendRecord([]byte("prefix"), v); ok || string(got) != "prefix" {
			t.Errorf("appendRecord of a value it leaves to encoding/json: got %q, %v", got, ok)
		}
	}
}

// TestValidNumber checks the number grammar against encoding/json's.
func TestValidNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "10", "-12.5", "0.5", "1e5", "1E+5", "1e-05", "-0.0e0",
		"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "1ex", "--1", "1.5.5", "0x10", "1 ", "NaN", "١"} {
		_, err := json.Marshal(json.Number(s))
		if want := err == nil && s != ""; validNumber(s) != want {
			t.Errorf("validNumber(%q): got %v, want %v", s, !want, want)
		}
	}
}

// FuzzAppendRecord: a record of any string, float and number text is
// written as encoding/json writes it, or left to it.
func FuzzAppendRecord(f *testing.F) {
	f.Add("C0000001", "Customer \"1\"\n", 12.5, int64(-3), "1.25")
	f.Add("\xff", "\u2028", 1e-9, int64(0), "")
	f.Fuzz(func(t *testing.T, id, s string, x float64, n int64, num string) {
		rec := map[string]any{"id": id, s: s, "x": x, "n": n, "num": json.Number(num), "l": []any{s, x}}
		want, err := stdJSON(t, rec)
		got, ok := appendRecord(nil, rec)
		switch {
		case ok && err != nil:
			t.Fatalf("appendRecord took what encoding/json refuses (%v): %s", err, got)
		case ok && !bytes.Equal(got, want):
			t.Fatalf("appendRecord:\n got %s\nwant %s", got, want)
		case !ok && err == nil:
			t.Fatalf("appendRecord left a record encoding/json writes: %s", want)
		}
	})
}

// BenchmarkRecordEncode encodes a customer record as the load tool's
// agents make them, with appendRecord and with a json.Encoder.
func BenchmarkRecordEncode(b *testing.B) {
	rec := map[string]any{"id": "C0001234", "customerName": "Customer 1234 of 17 Ltd",
		"emailAddress": "accounts1234@example.com", "status": "Active"}
	b.Run("appendRecord", func(b *testing.B) {
		var buf []byte
		for range b.N {
			buf, _ = appendRecord(buf[:0], rec)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for range b.N {
			buf.Reset()
			_ = enc.Encode(rec)
		}
	})
}
