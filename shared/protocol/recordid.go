package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/shared/jsonlex"
)

// RecordID checks one NDJSON line as DecodePage does and returns the
// record's id: at most MaxRecordBytes of UTF-8, one JSON object with no
// top-level key twice, and a string "id" of 1 to MaxRecordIDBytes bytes
// without control characters. An agent calls it on each record before
// uploading, so that what it sends is what the coordinator accepts.
//
// The line is read once: the scan that checks it is JSON (accepting
// exactly what json.Valid accepts) also finds the keys and the id. Only a
// line it refuses is read again, by encoding/json, to say what is wrong.
func RecordID(line []byte) (string, error) {
	if len(line) > MaxRecordBytes {
		return "", fmt.Errorf("record over %d bytes", MaxRecordBytes)
	}
	if !utf8.Valid(line) {
		return "", errors.New("not UTF-8")
	}
	s := jsonScan{Lexer: jsonlex.Lexer{B: line}}
	id, err, ok := s.record()
	if !ok {
		if !json.Valid(line) {
			var v json.RawMessage
			return "", fmt.Errorf("not JSON: %v", json.Unmarshal(line, &v))
		}
		return "", errors.New("not a JSON object")
	}
	return id, err
}

// maxNesting is encoding/json's limit on nested arrays and objects, past
// which json.Valid refuses a value.
const maxNesting = 10000

// jsonScan reads JSON text B from I: each method returns false, at once,
// where B is not JSON.
type jsonScan struct {
	jsonlex.Lexer
	depth int // arrays and objects open
}

// record reads b as one JSON object, and returns its string "id" and the
// first thing wrong with its keys or its id, if any; ok is false unless b
// is JSON and an object. A record that is not JSON is refused as such
// whatever its keys, as the scan that read it first refused it.
func (s *jsonScan) record() (id string, err error, ok bool) {
	s.Space()
	if s.Peek() != '{' {
		return "", nil, false
	}
	var (
		found bool
		keys  keySet
	)
	ok = s.object(func(key []byte, kerr error, value []byte) {
		switch {
		case err != nil:
		case kerr != nil:
			err = kerr
		case !keys.add(key):
			err = fmt.Errorf("key %q twice", truncate(string(key), 64))
		case string(key) != "id":
		case value[0] != '"':
			err = errors.New(`"id" is not a string`)
		default:
			id, err = unquote(value)
			found = true
		}
	})
	if s.Space(); !ok || s.I != len(s.B) {
		return "", nil, false
	}
	switch {
	case err != nil:
		return "", err, true
	case !found:
		return "", errors.New(`no "id"`), true
	}
	return id, CheckRecordID(id), true
}

// value reads one JSON value.
func (s *jsonScan) value() bool {
	switch c := s.Peek(); {
	case c == '"':
		return s.str()
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '-' || c >= '0' && c <= '9':
		return s.Number()
	case c == 't':
		return s.Literal("true")
	case c == 'f':
		return s.Literal("false")
	case c == 'n':
		return s.Literal("null")
	}
	return false
}

// object reads an object, calling member (unless nil) with each key,
// decoded, the error decoding it, and the value's JSON.
func (s *jsonScan) object(member func(key []byte, err error, value []byte)) bool {
	if s.depth++; s.depth > maxNesting {
		return false
	}
	s.I++
	if s.Space(); s.Peek() == '}' {
		s.I++
		s.depth--
		return true
	}
	for {
		start := s.I
		if s.Peek() != '"' || !s.str() {
			return false
		}
		end := s.I
		if s.Space(); s.Peek() != ':' {
			return false
		}
		s.I++
		s.Space()
		v := s.I
		if !s.value() {
			return false
		}
		if member != nil {
			key, err := unquoteBytes(s.B[start:end])
			member(key, err, s.B[v:s.I])
		}
		if more, ok := s.Next('}'); !ok || !more {
			s.depth--
			return ok
		}
	}
}

// array reads an array.
func (s *jsonScan) array() bool {
	if s.depth++; s.depth > maxNesting {
		return false
	}
	s.I++
	if s.Space(); s.Peek() == ']' {
		s.I++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		if more, ok := s.Next(']'); !ok || !more {
			s.depth--
			return ok
		}
	}
}

// str reads a string: no control characters, and only JSON's escapes.
func (s *jsonScan) str() bool {
	b := s.B
	for i := s.I + 1; i < len(b); i++ {
		if plain[b[i]] {
			continue
		}
		switch c := b[i]; {
		case c == '"':
			s.I = i + 1
			return true
		case c < 0x20:
			return false
		case i+1 >= len(b):
			return false
		case bytes.IndexByte([]byte(`"\\/bfnrt`), b[i+1]) >= 0:
			i++
		case b[i+1] == 'u' && i+5 < len(b) && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]):
			i += 5
		default:
			return false
		}
	}
	return false
}

// plain is the bytes a string holds as they are: all but the quote, the
// backslash and control characters.
var plain = func() (p [256]bool) {
	for c := range p {
		p[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return p
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// keySet is the keys of an object, decoded: an array of them while they
// are few (no allocation for a record of a usual size), a map once they
// are many, so that a record of 100,000 keys costs no more than its size.
type keySet struct {
	n    int
	few  [16][]byte
	many map[string]bool
}

// add adds key, unless it is there already. The set keeps key.
func (k *keySet) add(key []byte) bool {
	if k.many == nil && k.n < len(k.few) {
		for _, f := range k.few[:k.n] {
			if bytes.Equal(f, key) {
				return false
			}
		}
		k.few[k.n] = key
		k.n++
		return true
	}
	if k.many == nil {
		k.many = make(map[string]bool, 2*len(k.few))
		for _, f := range k.few[:k.n] {
			k.many[string(f)] = true
		}
	}
	if k.many[string(key)] {
		return false
	}
	k.many[string(key)] = true
	return true
}

// unquoteBytes decodes a JSON string, quotes included; without escapes
// it is b's own bytes, between the quotes.
func unquoteBytes(b []byte) ([]byte, error) {
	if !bytes.ContainsRune(b, '\\') {
		return b[1 : len(b)-1], nil
	}
	s, err := unquote(b)
	return []byte(s), err
}

// unquote decodes a JSON string, quotes included.
func unquote(b []byte) (string, error) {
	if !bytes.ContainsRune(b, '\\') {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}
