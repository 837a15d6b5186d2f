package csv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// batch streams one file's rows as records. It holds one row at a time.
type batch struct {
	f    *os.File
	dt   dataset.DataType
	name string // the file's base name, for messages
}

// column is one header cell: where its values go and how they are read.
type column struct {
	name string
	path []string // name split at dots: customerRef.id -> customerRef, id
	kind kind
}

var utf8BOM = []byte("\xef\xbb\xbf")

// Records reads the header, then each row: every fault in the file is a
// MapError naming the file, the line and, for a cell, the column.
func (b *batch) Records(ctx context.Context, emit func(source.Record) error) error {
	br := bufio.NewReaderSize(b.f, 64<<10)
	if bom, _ := br.Peek(len(utf8BOM)); bytes.Equal(bom, utf8BOM) {
		br.Discard(len(utf8BOM)) // Excel's "CSV UTF-8" starts with one
	}
	r := csv.NewReader(br)
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return b.mapError(nil, "%s is empty: its first row must name the columns", b.name)
	}
	if err != nil {
		return b.readError(err)
	}
	cols, err := b.columns(header)
	if err != nil {
		return err
	}
	rows := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b.readError(err)
		}
		if rows++; b.dt == dataset.Company && rows > 1 {
			line, _ := r.FieldPos(0)
			return b.mapError(nil, "%s line %d: the file holds one row, the company's", b.name, line)
		}
		rec, err := b.record(cols, row, r)
		if err != nil {
			return err
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	if b.dt == dataset.Company && rows == 0 {
		return b.mapError(nil, "%s has no row under its header", b.name)
	}
	return nil
}

func (b *batch) Close() error { return b.f.Close() }

// columns checks the header row.
func (b *batch) columns(header []string) ([]column, error) {
	if len(header) == 1 && strings.Contains(header[0], ";") {
		return nil, b.mapError(nil, "%s line 1: columns must be separated by commas, not semicolons", b.name)
	}
	cols := make([]column, len(header))
	hasID := false
	for i, name := range header {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, b.mapError(nil, "%s line 1: column %d has no name", b.name, i+1)
		}
		k, ok := columnKind(b.dt, name)
		if !ok {
			return nil, b.mapError(nil, "%s line 1: unknown column %q; the columns of %s are %s",
				b.name, truncate(name, 64), b.dt, columnNames(b.dt))
		}
		for _, c := range cols[:i] {
			if c.name == name {
				return nil, b.mapError(nil, "%s line 1: column %s twice", b.name, name)
			}
		}
		cols[i] = column{name: name, path: strings.Split(name, "."), kind: k}
		hasID = hasID || name == "id"
	}
	if !hasID && b.dt != dataset.Company {
		return nil, b.mapError(nil, "%s line 1: no id column", b.name)
	}
	return cols, nil
}

// record maps one row. Empty cells are left out.
func (b *batch) record(cols []column, row []string, r *csv.Reader) (source.Record, error) {
	rec := make(source.Record, len(cols))
	for i, c := range cols {
		cell := row[i]
		if strings.TrimSpace(cell) == "" {
			continue
		}
		v, err := convert(c.kind, cell)
		if err != nil {
			line, _ := r.FieldPos(i)
			return nil, b.mapError(err, "%s line %d, column %s: %v", b.name, line, c.name, err)
		}
		set(rec, c.path, v)
	}
	line, _ := r.FieldPos(0)
	id, _ := rec["id"].(string)
	switch {
	case id == "" && b.dt == dataset.Company:
		rec["id"] = "company"
	case id == "":
		return nil, b.mapError(nil, "%s line %d: no id", b.name, line)
	default:
		if err := protocol.CheckRecordID(id); err != nil {
			return nil, b.mapError(err, "%s line %d, column id: %v", b.name, line, err)
		}
	}
	return rec, nil
}

// decimal is a plain decimal number, as JSON writes it.
var decimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// convert reads one non-empty cell as k says.
func convert(k kind, cell string) (any, error) {
	if !utf8.ValidString(cell) {
		return nil, errors.New("not UTF-8 text; save the file as CSV UTF-8")
	}
	if k == text {
		return cell, nil
	}
	s := strings.TrimSpace(cell)
	if vs, ok := enums[k]; ok {
		for _, v := range vs {
			if strings.EqualFold(s, v) {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%q is not %s", truncate(s, 64), k)
	}
	switch k {
	case date:
		if _, err := model.Date(s).Time(); err != nil {
			return nil, fmt.Errorf("%q is %v", truncate(s, 64), err)
		}
		return s, nil
	case number:
		if !decimal.MatchString(s) {
			return nil, fmt.Errorf("%q is not a decimal number (write it as 1234.50)", truncate(s, 64))
		}
		return json.Number(s), nil
	case boolean:
		switch {
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"):
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", truncate(s, 64))
	}
	if open := "[{"[k-array]; s[0] != open { // array [, object {
		return nil, fmt.Errorf("not %s", k)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // amounts in line items stay exact too
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not %s: %v", k, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not %s: more after its end", k)
	}
	return v, nil
}

// set puts v at path in rec, making the objects on the way.
func set(rec source.Record, path []string, v any) {
	m := rec
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func (b *batch) readError(err error) error {
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount):
		return b.mapError(err, "%s line %d: %v", b.name, pe.Line, pe.Err)
	case errors.As(err, &pe) && pe.StartLine != pe.Line:
		return b.mapError(err, "%s line %d, character %d: %v (in the row that starts on line %d)",
			b.name, pe.Line, pe.Column, pe.Err, pe.StartLine)
	case errors.As(err, &pe):
		return b.mapError(err, "%s line %d, character %d: %v", b.name, pe.Line, pe.Column, pe.Err)
	}
	return b.mapError(err, "reading %s: %v", b.name, err)
}

func (b *batch) mapError(err error, format string, args ...any) *source.Error {
	return &source.Error{Status: dataset.MapError, Message: fmt.Sprintf(format, args...), Err: err}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
