package protocol

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	gzipMu sync.Mutex
	gzipW  = gzip.NewWriter(io.Discard) // reused: a fuzz run calls gzipped a lot
)

func gzipped(t testing.TB, raw []byte) []byte {
	t.Helper()
	gzipMu.Lock()
	defer gzipMu.Unlock()
	var b bytes.Buffer
	gzipW.Reset(&b)
	if _, err := gzipW.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := gzipW.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodePage(t *testing.T) {
	raw := "{\"id\":\"a\",\"totalAmount\":1234.50}\n  {\"name\":\"x\",\"id\":\"b\",\"lines\":[{\"id\":1}]}\r\n{\"id\":\"c\"}"
	p, err := DecodePage(bytes.NewReader(gzipped(t, []byte(raw))))
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Raw) != raw {
		t.Errorf("Raw = %q, want %q", p.Raw, raw)
	}
	want := []PageRecord{
		{"a", json.RawMessage(`{"id":"a","totalAmount":1234.50}`), 0},
		{"b", json.RawMessage(`{"name":"x","id":"b","lines":[{"id":1}]}`), 35},
		{"c", json.RawMessage(`{"id":"c"}`), 77},
	}
	if len(p.Records) != len(want) {
		t.Fatalf("got %d records, want %d", len(p.Records), len(want))
	}
	for i, w := range want {
		if got := p.Records[i]; got.ID != w.ID || string(got.JSON) != string(w.JSON) || got.Offset != w.Offset {
			t.Errorf("record %d = %s %s at %d, want %s %s at %d", i, got.ID, got.JSON, got.Offset, w.ID, w.JSON, w.Offset)
		}
		if got := p.Records[i]; string(p.Raw[got.Offset:got.Offset+len(got.JSON)]) != string(got.JSON) {
			t.Errorf("record %d: Raw at its offset is not its JSON", i)
		}
	}
}

func TestDecodePageConcatenatedGzipMembers(t *testing.T) {
	body := append(gzipped(t, []byte("{\"id\":\"a\"}\n")), gzipped(t, []byte("{\"id\":\"b\"}\n"))...)
	p, err := DecodePage(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 2 || string(p.Raw) != "{\"id\":\"a\"}\n{\"id\":\"b\"}\n" {
		t.Errorf("got %d records, raw %q", len(p.Records), p.Raw)
	}
}

func TestDecodePageRefuses(t *testing.T) {
	var b strings.Builder
	for i := range MaxPageRecords + 1 {
		fmt.Fprintf(&b, "{\"id\":\"%d\"}\n", i)
	}
	tooMany := b.String()
	long := `{"id":"a","pad":"` + strings.Repeat("x", MaxRecordBytes) + `"}`
	tests := []struct {
		name, raw, want string
	}{
		{"empty page", "", "no records"},
		{"only a newline", "\n", "line 1: empty line"},
		{"empty line", "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n", "line 2: empty line"},
		{"blank line", "{\"id\":\"a\"}\n \r\n", "line 2: empty line"},
		{"not json", "{\"id\":\"a\"}\n{\"id\":\n", "line 2: not JSON"},
		{"two values", "{\"id\":\"a\"} {\"id\":\"b\"}\n", "line 1: not JSON"},
		{"array", "[{\"id\":\"a\"}]\n", "line 1: not a JSON object"},
		{"string", "\"a\"\n", "line 1: not a JSON object"},
		{"no id", "{\"ID\":\"a\"}\n", `line 1: no "id"`},
		{"numeric id", "{\"id\":7}\n", `line 1: "id" is not a string`},
		{"object id", "{\"id\":{\"a\":1}}\n", `line 1: "id" is not a string`},
		{"empty id", "{\"id\":\"\"}\n", "line 1: \"id\" must be 1 to 256 bytes"},
		{"long id", "{\"id\":\"" + strings.Repeat("i", 257) + "\"}\n", "line 1: \"id\" must be 1 to 256 bytes"},
		{"control id", "{\"id\":\"a\\u0000b\"}\n", "line 1: \"id\" \"a\\x00b\" holds a control character"},
		{"key twice", "{\"id\":\"a\",\"id\":\"b\"}\n", `line 1: key "id" twice`},
		{"other key twice", "{\"id\":\"a\",\"n\":1,\"n\":2}\n", `line 1: key "n" twice`},
		{"duplicate id", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"a\"}\n", `line 3: id "a" already on line 1`},
		{"not utf-8", "{\"id\":\"a\xff\"}\n", "line 1: not UTF-8"},
		{"non-json space", "\u00a0{\"id\":\"a\"}\n", "line 1: not JSON"},
		{"too many records", tooMany, fmt.Sprintf("line %d: over %d records", MaxPageRecords+1, MaxPageRecords)},
		{"long line", long + "\n", fmt.Sprintf("line 1: over %d bytes", MaxRecordBytes)},
		{"long last line", long, fmt.Sprintf("line 1: over %d bytes", MaxRecordBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePage(bytes.NewReader(gzipped(t, []byte(tt.raw))))
			if !errors.Is(err, ErrBadPage) {
				t.Fatalf("err = %v, want ErrBadPage", err)
			}
			if got, want := err.Error(), "bad page: "+tt.want; !strings.HasPrefix(got, want) {
				t.Errorf("err = %q, want it to start %q", got, want)
			}
		})
	}
}

func TestDecodePageLineAtLimit(t *testing.T) {
	line := `{"id":"a","pad":"` + strings.Repeat("x", MaxRecordBytes-len(`{"id":"a","pad":""}`)) + `"}`
	for _, raw := range []string{line, line + "\n"} {
		if _, err := DecodePage(bytes.NewReader(gzipped(t, []byte(raw)))); err != nil {
			t.Errorf("a line of exactly MaxRecordBytes: %v", err)
		}
	}
}

func TestDecodePageRefusesBadGzip(t *testing.T) {
	good := gzipped(t, []byte("{\"id\":\"a\"}\n"))
	bad := bytes.Clone(good)
	bad[len(bad)-8] ^= 0xff // the CRC
	tests := map[string][]byte{
		"not gzip":       []byte("{\"id\":\"a\"}\n"),
		"empty body":     nil,
		"cut short":      good[:len(good)-4],
		"bad checksum":   bad,
		"trailing bytes": append(bytes.Clone(good), "junk"...),
	}
	for name, body := range tests {
		if _, err := DecodePage(bytes.NewReader(body)); !errors.Is(err, ErrBadPage) {
			t.Errorf("%s: err = %v, want ErrBadPage", name, err)
		}
	}
}

func TestDecodePageCompressedLimit(t *testing.T) {
	// Random base64 barely compresses: about 6 MiB of lines is over 4 MiB
	// gzipped, while under every other limit.
	var raw bytes.Buffer
	noise := make([]byte, 3000)
	for i := 0; raw.Len() < 6<<20; i++ {
		rand.Read(noise)
		fmt.Fprintf(&raw, "{\"id\":\"%d\",\"pad\":\"%s\"}\n", i, base64.StdEncoding.EncodeToString(noise))
	}
	body := gzipped(t, raw.Bytes())
	if len(body) <= MaxPageBytes {
		t.Fatalf("test page is %d bytes compressed, want over %d", len(body), MaxPageBytes)
	}
	_, err := DecodePage(bytes.NewReader(body))
	if !errors.Is(err, ErrBadPage) || !strings.Contains(err.Error(), "compressed") {
		t.Errorf("err = %v, want ErrBadPage over the compressed limit", err)
	}
}

func TestDecodePageExpandedLimit(t *testing.T) {
	// 40 lines of almost 1 MiB: valid records, tiny gzipped, 40 MiB expanded.
	var raw bytes.Buffer
	pad := strings.Repeat("x", MaxRecordBytes-100)
	for i := range 40 {
		fmt.Fprintf(&raw, "{\"id\":\"%d\",\"pad\":\"%s\"}\n", i, pad)
	}
	body := gzipped(t, raw.Bytes())
	alloc := allocated(func() {
		_, err := DecodePage(bytes.NewReader(body))
		if !errors.Is(err, ErrBadPage) || !strings.Contains(err.Error(), "uncompressed") {
			t.Errorf("err = %v, want ErrBadPage over the uncompressed limit", err)
		}
	})
	if alloc > 4*MaxPageExpandedBytes {
		t.Errorf("allocated %d MiB to refuse the page", alloc>>20)
	}
}

func TestDecodePageBombFailsFast(t *testing.T) {
	// 1 GiB of zeros in about 1 MiB: one gzip member of 1 MiB of zeros,
	// 1024 times over. It must be refused after about a line's worth of
	// output.
	member := gzipped(t, make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 1<<10)
	alloc := allocated(func() {
		_, err := DecodePage(bytes.NewReader(bomb))
		if !errors.Is(err, ErrBadPage) || !strings.Contains(err.Error(), "line 1: over") {
			t.Errorf("err = %v, want ErrBadPage for line 1", err)
		}
	})
	if alloc > 16<<20 {
		t.Errorf("allocated %d MiB to refuse a bomb", alloc>>20)
	}
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestRecordID(t *testing.T) {
	id, err := RecordID([]byte(`{"name":"x","id":"inv-1","lines":[{"id":"nested"}]}`))
	if err != nil || id != "inv-1" {
		t.Errorf("RecordID = %q, %v, want inv-1", id, err)
	}
}

// TestRecordIDAllocs checks that RecordID allocates the id alone for a
// record of a usual size: the coordinator checks every line of every page
// it receives, and an allocation per key was most of a page's garbage.
// An escaped key is decoded, and still compared with the others.
func TestRecordIDAllocs(t *testing.T) {
	rec := []byte(`{"id":"inv-0000042","invoiceNumber":"INV-42","customerRef":{"id":"cus-1","companyName":"Customer Ltd"},` +
		`"issueDate":"2026-01-01T00:00:00Z","dueDate":"2026-02-01T00:00:00Z","currency":"GBP","subTotal":"10.00",` +
		`"totalTaxAmount":"2.00","totalAmount":"12.00","amountDue":"12.00","status":"Submitted"}`)
	if n := testing.AllocsPerRun(100, func() { RecordID(rec) }); n > 1 {
		t.Errorf("RecordID of a record of 11 keys: %.0f allocations, want 1 (the id)", n)
	}
	if _, err := RecordID([]byte(`{"id":"x","a":1,"\u0061":2}`)); err == nil || !strings.Contains(err.Error(), `key "a" twice`) {
		t.Errorf("RecordID with a key twice, once escaped = %v", err)
	}
}

func TestRecordIDManyKeys(t *testing.T) {
	// As many keys as fit in a record: linear, not quadratic, to check.
	var b strings.Builder
	b.WriteString(`{"id":"x"`)
	for i := 0; b.Len() < MaxRecordBytes-20; i++ {
		fmt.Fprintf(&b, `,"%x":0`, i)
	}
	rec := b.String()
	if id, err := RecordID([]byte(rec + "}")); err != nil || id != "x" {
		t.Errorf("RecordID = %q, %v", id, err)
	}
	if _, err := RecordID([]byte(rec + `,"5":1}`)); err == nil || !strings.Contains(err.Error(), `key "5" twice`) {
		t.Errorf("RecordID with a key twice among many = %v", err)
	}
}

func TestCommitRequestValidate(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	good := []CommitRequest{
		{LeaseID: "l", Pages: 0, Records: 0, SHA256: sum},
		{LeaseID: "l", Pages: 2, Records: 2, SHA256: sum},
		{LeaseID: "l", Pages: 2, Records: 2 * MaxPageRecords, SHA256: sum},
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	bad := []CommitRequest{
		{LeaseID: "", Pages: 0, Records: 0, SHA256: sum},
		{LeaseID: "l", Pages: -1, Records: 0, SHA256: sum},
		{LeaseID: "l", Pages: MaxPages + 1, Records: MaxPages + 1, SHA256: sum},
		{LeaseID: "l", Pages: 0, Records: 3, SHA256: sum},
		{LeaseID: "l", Pages: 3, Records: 2, SHA256: sum},
		{LeaseID: "l", Pages: 1, Records: MaxPageRecords + 1, SHA256: sum},
		{LeaseID: "l", Pages: 1, Records: 1, SHA256: "ab"},
		{LeaseID: "l", Pages: 1, Records: 1, SHA256: strings.ToUpper(sum)},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", c)
		}
	}
}

func TestPaths(t *testing.T) {
	if got := PagePath("d 1", 3); got != "/agent/v1/datasets/d%201/pages/3" {
		t.Errorf("PagePath = %q", got)
	}
	if got := CommitPath("d1"); got != "/agent/v1/datasets/d1/commit" {
		t.Errorf("CommitPath = %q", got)
	}
}

// FuzzDecodePage feeds DecodePage both raw bodies and NDJSON it gzips
// first, so the fuzzer reaches the line checks.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte("{\"id\":\"a\",\"totalAmount\":1.50}\n{\"id\":\"b\"}\n"), true)
	f.Add([]byte("{\"id\":\"a\"}"), true)
	f.Add([]byte("{\"id\":\"a\",\"id\":\"a\"}\n\n"), true)
	f.Add([]byte("{\"id\":\"a\"}\n{\"id\":\"a\"}\n"), true)
	f.Add([]byte(" {\"lines\":[{\"id\":1}],\"id\":\"\\u00e9\"}\r\n"), true)
	f.Add(gzipped(f, []byte("{\"id\":\"a\"}\n")), false)
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), false)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		body := data
		if compress {
			body = gzipped(t, data)
		}
		p, err := DecodePage(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrBadPage) {
				t.Fatalf("error %v does not wrap ErrBadPage", err)
			}
			return
		}
		if compress && !bytes.Equal(p.Raw, data) {
			t.Fatalf("Raw = %q, want %q", p.Raw, data)
		}
		if len(p.Records) == 0 || len(p.Records) > MaxPageRecords || len(p.Raw) > MaxPageExpandedBytes {
			t.Fatalf("%d records, %d bytes: out of bounds", len(p.Records), len(p.Raw))
		}
		seen := map[string]bool{}
		for _, r := range p.Records {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(r.JSON, &obj); err != nil {
				t.Fatalf("record %q is not a JSON object: %v", r.JSON, err)
			}
			var id string
			if err := json.Unmarshal(obj["id"], &id); err != nil || id != r.ID {
				t.Fatalf("record %s: id %q, want %q (%v)", r.JSON, id, r.ID, err)
			}
			if seen[id] {
				t.Fatalf("id %q twice", id)
			}
			seen[id] = true
		}
		// What decoded decodes again, the same, from its own Raw.
		again, err := DecodePage(bytes.NewReader(gzipped(t, p.Raw)))
		if err != nil || len(again.Records) != len(p.Records) {
			t.Fatalf("Raw does not decode again: %v", err)
		}
		// Declared at its size it decodes the same; declared a byte
		// smaller, never.
		sized, err := DecodeSizedPage(bytes.NewReader(body), len(p.Raw))
		if err != nil || !bytes.Equal(sized.Raw, p.Raw) || len(sized.Records) != len(p.Records) {
			t.Fatalf("declared at its size %d: %v", len(p.Raw), err)
		}
		if _, err := DecodeSizedPage(bytes.NewReader(body), len(p.Raw)-1); !errors.Is(err, ErrBadPage) {
			t.Fatalf("declared a byte smaller: err %v, want ErrBadPage", err)
		}
	})
}

func TestDecodePageTooLargeIsTyped(t *testing.T) {
	// Valid records of random hex: over MaxPageBytes even compressed.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	noise := make([]byte, 1500)
	for i := 0; b.Len() <= MaxPageBytes; i++ {
		rand.Read(noise)
		fmt.Fprintf(zw, `{"id":"r%d","pad":"%x"}`+"\n", i, noise)
		if i%100 == 0 {
			zw.Flush()
		}
	}
	zw.Close()
	_, err := DecodePage(&b)
	if !errors.Is(err, ErrBadPage) || !errors.Is(err, ErrPageTooLarge) {
		t.Fatalf("err %v, want ErrBadPage and ErrPageTooLarge", err)
	}
}

func TestDecodeSizedPage(t *testing.T) {
	raw := "{\"id\":\"a\"}\n{\"id\":\"b\"}\n"
	var valid bytes.Buffer // 2 MB of valid records, a few KB gzipped
	for i := range MaxPageRecords {
		fmt.Fprintf(&valid, `{"id":"r%d","pad":"%s"}`+"\n", i, strings.Repeat("a", 400))
	}
	bomb := gzipped(t, valid.Bytes())
	tests := []struct {
		name string
		body []byte
		size int
		want string // "" for success, else part of the error
	}{
		{"exact", gzipped(t, []byte(raw)), len(raw), ""},
		{"larger than declared", gzipped(t, []byte(raw)), len(raw) - 1, "over its declared"},
		{"smaller than declared", gzipped(t, []byte(raw)), len(raw) + 1, "not the 23 declared"},
		{"bomb declared small", bomb, 100, "over its declared 100 bytes"},
		{"declared zero", gzipped(t, []byte(raw)), 0, "declared size 0"},
		{"declared over the limit", gzipped(t, []byte(raw)), MaxPageExpandedBytes + 1, "is not 1 to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Page
			var err error
			alloc := allocated(func() { p, err = DecodeSizedPage(bytes.NewReader(tt.body), tt.size) })
			switch {
			case tt.want == "" && (err != nil || string(p.Raw) != raw || len(p.Records) != 2):
				t.Fatalf("got %d records, raw %q, err %v; want the page", len(p.Records), p.Raw, err)
			case tt.want != "" && (!errors.Is(err, ErrBadPage) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want ErrBadPage with %q", err, tt.want)
			}
			// What is allocated follows the declared size, not what the
			// body expands to: gzip's state and the page itself.
			if limit := uint64(max(tt.size, 0)) + 1<<20; alloc > limit {
				t.Errorf("allocated %d KiB, want at most %d KiB", alloc>>10, limit>>10)
			}
		})
	}
}
