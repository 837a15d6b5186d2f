package ndjson

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	type line struct {
		n    int
		text string
	}
	tests := []struct {
		name, data string
		want       []line
	}{
		{"empty", "", nil},
		{"final newline", "{\"a\":1}\n{\"b\":2}\n", []line{{1, `{"a":1}`}, {2, `{"b":2}`}}},
		{"no final newline", "{\"a\":1}\n{\"b\":2}", []line{{1, `{"a":1}`}, {2, `{"b":2}`}}},
		{"crlf", "{\"a\":1}\r\n{\"b\":2}\r\n", []line{{1, `{"a":1}`}, {2, `{"b":2}`}}},
		{"blank lines count", "\n{\"a\":1}\n\n \t\r\n{\"b\":2}\n\n", []line{{2, `{"a":1}`}, {5, `{"b":2}`}}},
		{"white space trimmed", "  {\"a\": 1} \t\n", []line{{1, `{"a": 1}`}}},
		{"only blank", "\n\r\n  \n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []line
			for n, l := range Lines([]byte(tt.data)) {
				got = append(got, line{n, string(l)})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lines(%q) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

func TestLinesShareDataButNotPastTheLine(t *testing.T) {
	data := []byte("{\"a\":1}\n{\"b\":2}")
	for _, l := range Lines(data) {
		if &l[0] != &data[0] {
			t.Fatal("the line is a copy, not a part of data")
		}
		if cap(l) != len(l) {
			t.Fatalf("cap = %d, want %d: appending would write over the next line", cap(l), len(l))
		}
		break
	}
}

func TestLinesStopsWhenTold(t *testing.T) {
	calls := 0
	for range Lines([]byte("{}\n{}\n{}\n")) {
		calls++
		break
	}
	if calls != 1 {
		t.Errorf("%d lines after break, want 1", calls)
	}
}

// TestEach: Each calls fn with the lines Lines yields and stops at fn's
// first error, which it returns.
func TestEach(t *testing.T) {
	var got []string
	stop := errors.New("stop")
	err := Each([]byte("{\"a\":1}\n\n {\"b\":2}\n{\"c\":3}\n{\"d\":4}"), func(line []byte) error {
		got = append(got, string(line))
		if len(got) == 3 {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(got, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}) {
		t.Fatalf("Each gave %q and %v; want the first three lines and the stop", got, err)
	}
	if err := Each(nil, func([]byte) error { return stop }); err != nil {
		t.Fatalf("Each of nothing: %v, want nil", err)
	}
}

func TestTrim(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t\r\n": "", " {} \r\n": "{}", "{ }": "{ }", "\v{}": "\v{}"} {
		if got := string(Trim([]byte(in))); got != want {
			t.Errorf("Trim(%q) = %q, want %q", in, got, want)
		}
	}
}

// readLines reads every line of data with AppendLine through a small
// buffer, so that long lines come in many fragments.
func readLines(data string, limit int) ([]string, []byte, error) {
	br := bufio.NewReaderSize(strings.NewReader(data), 16)
	var (
		buf   []byte
		lines []string
	)
	for {
		start := len(buf)
		var err error
		buf, err = AppendLine(br, buf, limit, 1<<20)
		if len(buf) > start {
			lines = append(lines, string(buf[start:]))
		}
		if err != nil {
			return lines, buf, err
		}
	}
}

func TestAppendLine(t *testing.T) {
	const limit = 40
	at := strings.Repeat("x", limit)
	tests := []struct {
		name, data string
		want       []string
		err        error
	}{
		{"empty", "", nil, io.EOF},
		{"final newline", "a\nbb\n", []string{"a\n", "bb\n"}, io.EOF},
		{"no final newline", "a\nbb", []string{"a\n", "bb"}, io.EOF},
		{"empty lines kept", "\n\r\na\n", []string{"\n", "\r\n", "a\n"}, io.EOF},
		{"crlf kept", "a\r\nb\r\n", []string{"a\r\n", "b\r\n"}, io.EOF},
		{"line at the limit", at + "\n" + at, []string{at + "\n", at}, io.EOF},
		{"line over the limit", "a\n" + at + "x\nb\n", []string{"a\n", at + "x"}, ErrLineTooLong},
		{"last line over the limit", at + "x", []string{at + "x"}, ErrLineTooLong},
		{"crlf over the limit", at + "\r\n", []string{at + "\r"}, ErrLineTooLong},
		{"far over the limit", strings.Repeat("y", 10*limit), []string{strings.Repeat("y", limit+1)}, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, buf, err := readLines(tt.data, limit)
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			// "far over" stops within a fragment of the limit: it reads no
			// more of the line than it must.
			if len(got) > 0 && len(got[len(got)-1]) > limit+16 {
				t.Errorf("read %d bytes of a line over %d", len(got[len(got)-1]), limit)
			}
			if tt.err == ErrLineTooLong {
				if n := len(got) - 1; n >= 0 && strings.HasPrefix(got[n], tt.want[n]) {
					got[n] = tt.want[n] // what more of the line was read depends on the buffer
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
			if string(buf) != strings.Join(got, "") && tt.err != ErrLineTooLong {
				t.Errorf("buffer %q is not the lines read", buf)
			}
		})
	}
}

func TestAppendLineGrowth(t *testing.T) {
	// 100 KB in lines of 1 KB: the buffer doubles but stops at most.
	const most = 100_000
	data := strings.Repeat(strings.Repeat("z", 999)+"\n", most/1000)
	br := bufio.NewReader(strings.NewReader(data))
	var buf []byte
	var caps []int
	for {
		var err error
		c := cap(buf)
		if buf, err = AppendLine(br, buf, 1000, most); c != cap(buf) {
			caps = append(caps, cap(buf))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(buf) != most || string(buf) != data {
		t.Fatalf("read %d bytes, want the %d given", len(buf), most)
	}
	if want := []int{16 << 10, 32 << 10, 64 << 10, most}; !slices.Equal(caps, want) {
		t.Errorf("capacities %v, want %v", caps, want)
	}
}
