// Package ndjson splits newline-delimited JSON into lines. The upload page
// decoder (shared/protocol), the hub's validation and the store's cache
// all split here, so that they agree on what a line is: the bytes up to a
// '\n', or up to the end for a last line without one, with JSON white
// space (so the '\r' of a "\r\n" ending) trimmed from both ends. Nothing
// follows a final newline: "a\n" is one line, "a\n\n" two.
package ndjson

import (
	"bufio"
	"bytes"
	"errors"
	"iter"
)

// ErrLineTooLong is returned by AppendLine for a line over its limit.
var ErrLineTooLong = errors.New("line too long")

// Lines yields the lines of data that are not blank, trimmed, each with
// its number from 1 (blank lines count). A line shares data's memory but
// has no capacity past its end, so appending to it copies.
func Lines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(data) > 0; n++ {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			if line = Trim(line); len(line) > 0 && !yield(n, line[:len(line):len(line)]) {
				return
			}
		}
	}
}

// Each calls fn with each line Lines yields, in order, and stops at
// fn's first error, which it returns.
func Each(data []byte, fn func(line []byte) error) error {
	for _, line := range Lines(data) {
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// Trim returns line without the JSON white space (space, tab, '\r',
// '\n') at either end.
func Trim(line []byte) []byte {
	s, e := 0, len(line)
	for s < e && isSpace(line[s]) {
		s++
	}
	for e > s && isSpace(line[e-1]) {
		e--
	}
	return line[s:e]
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// AppendLine reads the next line of br and appends it, untrimmed and with
// its newline if it has one, to dst. It returns io.EOF when br ends
// without a newline, perhaps after some bytes, and ErrLineTooLong as soon
// as the line, its newline aside, is over limit bytes; dst then holds
// what was read of it. When dst must grow it doubles, but to no more than most
// bytes unless the line needs more: most is what the caller will hold at
// the most, so that a buffer of 32 MiB grows through 64 MiB, not 160.
func AppendLine(br *bufio.Reader, dst []byte, limit, most int) ([]byte, error) {
	start := len(dst)
	for {
		frag, err := br.ReadSlice('\n')
		if need := len(dst) + len(frag); need > cap(dst) {
			grown := make([]byte, len(dst), max(need, min(2*cap(dst), most), 16<<10))
			copy(grown, dst)
			dst = grown
		}
		dst = append(dst, frag...)
		n := len(dst) - start
		if n > limit+1 || (n == limit+1 && dst[len(dst)-1] != '\n') {
			return dst, ErrLineTooLong
		}
		if err != bufio.ErrBufferFull {
			return dst, err
		}
	}
}
