package model

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/jsonlex"
)

// The plain records' decoder
//
// json.Unmarshal reads a record twice (a scan that checks the JSON, then
// the decode) and asks every field's type by reflection whether it
// decodes itself. Most records are plain: keys exactly the model's field
// names, each once, strings without escapes, amounts, objects and arrays
// of the model's types, no nulls. decodePlain reads those in one pass; it
// gives up on anything else (an unknown key, an escape, a null, a value of
// the wrong kind, bad JSON), and Decode then leaves the record to
// json.Unmarshal, which accepts or refuses it as before. So every refusal,
// and every record that is not plain, is json.Unmarshal's; a plain record
// decodes to what json.Unmarshal makes of it (FuzzDecodePlain).

// plainKind is how decodePlain reads a field's value.
type plainKind uint8

const (
	plainNo      plainKind = iota // not read here: give up
	plainString                   // a string kind without methods of decoding
	plainBool                     // a bool kind without them
	plainDecimal                  // *Decimal
	plainPointer                  // a pointer to a plain struct
	plainSlice                    // a slice of plain structs
)

type plainField struct {
	index []int
	kind  plainKind
	elem  *plainStruct // plainPointer, plainSlice
}

// plainStruct is the fields of a struct type that json.Unmarshal fills,
// by their JSON name; nil for a type decodePlain does not read.
type plainStruct struct {
	typ    reflect.Type
	fields []plainField
	byName map[string]int
}

var (
	decimalPtr        = reflect.TypeFor[*Decimal]()
	jsonUnmarshaler   = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler   = reflect.TypeFor[encoding.TextUnmarshaler]()
	plainRecordStruct = map[reflect.Type]*plainStruct{}
)

func init() {
	seen := map[reflect.Type]*plainStruct{}
	for _, dt := range dataset.DataTypes {
		t := reflect.TypeOf(New(dt)).Elem()
		plainRecordStruct[t] = plainStructOf(t, seen)
	}
}

// decodes reports whether t, or a pointer to it, decodes itself.
func decodes(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
		p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}

// plainStructOf returns the plain fields of struct type t, or nil when
// its fields are not all simple to place: an embedded field other than a
// struct, or two fields of one name (json.Unmarshal's rules of which one
// wins are not repeated here).
func plainStructOf(t reflect.Type, seen map[reflect.Type]*plainStruct) *plainStruct {
	if s, ok := seen[t]; ok {
		return s
	}
	seen[t] = nil // a type that holds itself is not plain
	if decodes(t) {
		return nil
	}
	s := &plainStruct{typ: t, byName: map[string]int{}}
	if !s.add(t, nil, seen) || len(s.fields) > 64 {
		return nil
	}
	seen[t] = s
	return s
}

// add adds the fields of struct type t, at index path at, embedded
// structs' fields included.
func (s *plainStruct) add(t reflect.Type, at []int, seen map[reflect.Type]*plainStruct) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), at...), i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" && opts == "":
			continue
		case f.Anonymous:
			if f.Type.Kind() != reflect.Struct || tag != "" || decodes(f.Type) || !s.add(f.Type, index, seen) {
				return false
			}
			continue
		case !f.IsExported():
			continue
		case strings.Trim(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "":
			return false
		case tag == "":
			tag = f.Name
		}
		if _, dup := s.byName[tag]; dup {
			return false
		}
		pf := plainField{index: index}
		if opts == "" || opts == "omitempty" {
			pf.kind, pf.elem = plainKindOf(f.Type, seen)
		}
		s.byName[tag] = len(s.fields)
		s.fields = append(s.fields, pf)
	}
	return true
}

func plainKindOf(t reflect.Type, seen map[reflect.Type]*plainStruct) (plainKind, *plainStruct) {
	switch {
	case t == decimalPtr:
		return plainDecimal, nil
	case decodes(t):
		return plainNo, nil
	case t.Kind() == reflect.String:
		return plainString, nil
	case t.Kind() == reflect.Bool:
		return plainBool, nil
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if s := plainStructOf(t.Elem(), seen); s != nil {
			return plainPointer, s
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if s := plainStructOf(t.Elem(), seen); s != nil {
			return plainSlice, s
		}
	}
	return plainNo, nil
}

// decodePlain decodes raw into rec, a new record, if raw is a plain
// record; false, leaving rec in any state, if not.
func decodePlain(raw []byte, rec Record) bool {
	v := reflect.ValueOf(rec).Elem()
	ps := plainRecordStruct[v.Type()]
	if ps == nil {
		return false
	}
	r := plainReader{jsonlex.Lexer{B: raw}}
	r.Space()
	if !r.object(ps, v) {
		return false
	}
	r.Space()
	return r.I == len(raw)
}

// plainReader reads a plain record from B at I; each method returns
// false where B is not one.
type plainReader struct{ jsonlex.Lexer }

// object reads an object of struct s into v: each key a field's, once.
func (r *plainReader) object(s *plainStruct, v reflect.Value) bool {
	if r.Peek() != '{' {
		return false
	}
	r.I++
	if r.Space(); r.Peek() == '}' {
		r.I++
		return true
	}
	var set uint64
	for {
		key, ok := r.str()
		if !ok {
			return false
		}
		if r.Space(); r.Peek() != ':' {
			return false
		}
		r.I++
		r.Space()
		n, ok := s.byName[string(key)]
		if !ok || set&(1<<n) != 0 {
			return false
		}
		set |= 1 << n
		f := &s.fields[n]
		if !r.value(f, v.FieldByIndex(f.index)) {
			return false
		}
		if more, ok := r.Next('}'); !ok || !more {
			return ok
		}
	}
}

// value reads the value of field f into v.
func (r *plainReader) value(f *plainField, v reflect.Value) bool {
	switch f.kind {
	case plainString:
		s, ok := r.str()
		if !ok {
			return false
		}
		v.SetString(string(s))
	case plainBool:
		switch {
		case r.Literal("true"):
			v.SetBool(true)
		case r.Literal("false"):
			v.SetBool(false)
		default:
			return false
		}
	case plainDecimal:
		start := r.I
		if r.Peek() == '"' {
			if _, ok := r.str(); !ok {
				return false
			}
		} else if !r.Number() {
			return false
		}
		d := new(Decimal)
		if d.UnmarshalJSON(r.B[start:r.I]) != nil {
			return false
		}
		v.Set(reflect.ValueOf(d))
	case plainPointer:
		p := reflect.New(f.elem.typ)
		if !r.object(f.elem, p.Elem()) {
			return false
		}
		v.Set(p)
	case plainSlice:
		return r.array(f.elem, v)
	default:
		return false
	}
	return true
}

// array reads an array of objects of struct s into slice v.
func (r *plainReader) array(s *plainStruct, v reflect.Value) bool {
	if r.Peek() != '[' {
		return false
	}
	r.I++
	sl := reflect.MakeSlice(v.Type(), 0, 0)
	if r.Space(); r.Peek() == ']' {
		r.I++
		v.Set(sl)
		return true
	}
	for {
		e := reflect.New(s.typ).Elem()
		if !r.object(s, e) {
			return false
		}
		sl = reflect.Append(sl, e)
		more, ok := r.Next(']')
		if !ok {
			return false
		}
		if !more {
			v.Set(sl)
			return true
		}
	}
}

// str reads a string without escapes or control characters, of valid
// UTF-8, and returns what is between its quotes.
func (r *plainReader) str() ([]byte, bool) {
	if r.Peek() != '"' {
		return nil, false
	}
	start, ascii := r.I+1, true
	for i := start; i < len(r.B); i++ {
		switch c := r.B[i]; {
		case c == '"':
			r.I = i + 1
			s := r.B[start:i]
			return s, ascii || utf8.Valid(s)
		case c < 0x20 || c == '\\':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}
