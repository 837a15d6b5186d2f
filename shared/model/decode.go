package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// ErrMalformed is wrapped by Decode's refusal of a record that is not a
// JSON object of its data type's shape (bad JSON, or a field of the wrong
// JSON type). A bad amount wraps ErrNotDecimal instead.
var ErrMalformed = errors.New("malformed record")

// New returns an empty record of data type dt; nil if dt is not one.
func New(dt dataset.DataType) Record {
	switch dt {
	case dataset.Company:
		return &Company{}
	case dataset.ChartOfAccounts:
		return &Account{}
	case dataset.Customers:
		return &Customer{}
	case dataset.Suppliers:
		return &Supplier{}
	case dataset.TaxRates:
		return &TaxRate{}
	case dataset.Invoices:
		return &Invoice{}
	case dataset.Bills:
		return &Bill{}
	case dataset.JournalEntries:
		return &JournalEntry{}
	case dataset.CreditNotes:
		return &CreditNote{}
	case dataset.BillCreditNotes:
		return &BillCreditNote{}
	case dataset.Payments:
		return &Payment{}
	case dataset.BillPayments:
		return &BillPayment{}
	case dataset.BankAccounts:
		return &BankAccount{}
	}
	return nil
}

// Decode reads one record of data type dt from its JSON object. Fields the
// model does not hold are ignored (a connector may send more of Codat's
// fields); amounts are read from their text, exactly. The error wraps
// ErrMalformed or ErrNotDecimal and says what is wrong in words for the
// user, without Go's type names.
func Decode(dt dataset.DataType, raw []byte) (Record, error) {
	rec := New(dt)
	if rec == nil {
		return nil, fmt.Errorf("%w: %q is not a data type; they are %s", ErrMalformed, dt, dataset.DataTypeNames())
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: not valid JSON", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if decodePlain(raw, rec) {
		return rec, nil
	}
	rec = New(dt) // decodePlain gave up: json.Unmarshal decides, from the start
	if err := json.Unmarshal(raw, rec); err != nil {
		return nil, describe(err)
	}
	return rec, nil
}

// describe turns an error of json.Unmarshal into one for the user.
func describe(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, ErrNotDecimal):
		return err
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: not valid JSON at byte %d: %v", ErrMalformed, syntax.Offset, syntax)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Errorf("%w: %s is %s, not %s", ErrMalformed, typ.Field, article(typ.Value), JSONKind(typ.Type))
	case errors.As(err, &typ):
		return fmt.Errorf("%w: %s, not %s", ErrMalformed, article(typ.Value), JSONKind(typ.Type))
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// JSONKind names in JSON's words what a Go type is read from, never a Go
// type name: the model's decoder and the API's bodies say it alike.
func JSONKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}

// article puts "a" or "an" before the JSON value kind json names (string,
// number, object, array, bool).
func article(v string) string {
	switch {
	case v == "bool":
		return "true or false"
	case v != "" && bytes.ContainsAny([]byte{v[0]}, "aeiou"):
		return "an " + v
	}
	return "a " + v
}
