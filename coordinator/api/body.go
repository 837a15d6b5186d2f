package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/shared/model"
)

// maxBody caps every request body of the REST API.
const maxBody = 1 << 20

// textFields are the body fields of free text, where a tab, a line feed
// and a carriage return are allowed; no other string of a body may hold a
// control character.
var textFields = map[string]bool{"description": true}

// decodeBody reads a JSON object into v. It refuses, with a 400 that names
// the field at fault: a body that is not one JSON object, a string that is
// not valid UTF-8 or holds a control character, unknown fields, and values
// of the wrong JSON type; and bodies over maxBody with a 413.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return bodyError(err)
	}
	if err := checkJSON(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	return nil
}

// decodeOptionalBody is decodeBody for a route whose body may be left out:
// an empty body (or one of white space only) leaves v as it is and
// answers false.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, v any) (bool, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return false, bodyError(err)
	}
	if len(bytes.TrimLeft(raw, " \t\r\n")) == 0 {
		return false, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return true, decodeBody(w, r, v)
}

func bodyError(err error) *Error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body is over %d bytes", maxBody)
	case errors.As(err, &syntax):
		return errorf(http.StatusBadRequest, CodeBadJSON, "body is not valid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return errorf(http.StatusBadRequest, CodeBadJSON, "body must be a JSON object")
	case errors.As(err, &typ):
		return errorf(http.StatusBadRequest, CodeBadJSON, "field %q must be %s", typ.Field, model.JSONKind(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, CodeBadJSON, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, CodeBadJSON, "body is empty or cut short; a JSON object is required")
	}
	return errorf(http.StatusBadRequest, CodeBadJSON, "body is not valid JSON")
}

// checkJSON walks a body's JSON: one object, nothing after it, and every
// string in it (keys included) valid UTF-8 without a control character (a
// tab, a line feed or a carriage return allowed in textFields). The error
// names the field.
func checkJSON(raw []byte) error {
	rest := bytes.TrimLeft(raw, " \t\r\n")
	if len(rest) == 0 {
		return errorf(http.StatusBadRequest, CodeBadJSON, "body is empty; a JSON object is required")
	}
	if rest[0] != '{' {
		return errorf(http.StatusBadRequest, CodeBadJSON, "body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var w jsonWalk
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			e := bodyError(err)
			if at := w.path(); at != "" && e.Status == http.StatusBadRequest {
				e.Message += fmt.Sprintf(" (in field %q)", at)
			}
			return e
		}
		if s, ok := tok.(string); ok {
			if err := w.checkString(raw[start:dec.InputOffset()], s); err != nil {
				return err
			}
		}
		if w.step(tok) {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, CodeBadJSON, "body has data after the JSON object")
	}
	return nil
}

// jsonWalk follows where a token stream is: the open objects and arrays,
// each with its current key or index.
type jsonWalk struct{ frames []jsonFrame }

type jsonFrame struct {
	array   bool
	key     string
	index   int
	wantKey bool
}

// step moves past tok; true when the outermost value has ended.
func (w *jsonWalk) step(tok json.Token) bool {
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		w.frames = append(w.frames, jsonFrame{array: d == '[', wantKey: d == '{'})
		return false
	}
	if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
		w.frames = w.frames[:len(w.frames)-1]
	} else if f := w.top(); f != nil && f.wantKey {
		f.key, f.wantKey = tok.(string), false
		return false
	}
	// A value ended: the next token is the next key or element.
	f := w.top()
	if f == nil {
		return true
	}
	if f.array {
		f.index++
	} else {
		f.wantKey = true
	}
	return false
}

func (w *jsonWalk) top() *jsonFrame {
	if len(w.frames) == 0 {
		return nil
	}
	return &w.frames[len(w.frames)-1]
}

// path names the current place: settings[0].dataType, tags.region.
func (w *jsonWalk) path() string {
	var b strings.Builder
	for _, f := range w.frames {
		switch {
		case f.array:
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		case f.wantKey:
			// inside an object, between its fields
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
	}
	return b.String()
}

// checkString checks one string token: raw is its text in the body (with
// what preceded it since the last token), s its decoded value.
func (w *jsonWalk) checkString(raw []byte, s string) error {
	field, what := w.path(), "field"
	if f := w.top(); f != nil && f.wantKey {
		what = "a key of"
		if field == "" {
			what, field = "a field name", ""
		}
	}
	name := fmt.Sprintf("%s %q", what, field)
	if field == "" {
		name = what
	}
	raw = raw[bytes.IndexByte(raw, '"'):]
	if !utf8.Valid(raw) || strings.Count(s, "\uFFFD") > literalReplacements(raw) {
		return errorf(http.StatusBadRequest, CodeInvalidField, "%s is not valid UTF-8 text", name)
	}
	text := what == "field" && textFields[field]
	for _, r := range s {
		if unicode.IsControl(r) && !(text && (r == '\t' || r == '\n' || r == '\r')) {
			return errorf(http.StatusBadRequest, CodeInvalidField, "%s holds a control character (%U)", name, r)
		}
	}
	return nil
}

// literalReplacements counts the U+FFFD characters a JSON string literal
// spells out, as the character or as a \uFFFD escape. A decoded string
// holding more has had invalid input (a lone surrogate escape) replaced.
func literalReplacements(lit []byte) int {
	n := bytes.Count(lit, []byte("\uFFFD"))
	for i := 0; i+6 <= len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		if lit[i+1] == 'u' && strings.EqualFold(string(lit[i+2:i+6]), "fffd") {
			n++
		}
		i++ // an escaped character is not the start of another escape
	}
	return n
}
