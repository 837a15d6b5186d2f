package badgerstore

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestDocClones: each clone shares no map, slice or pointer with what
// the transaction holds, every field filled (a field added to a document
// without its clone fails here).
func TestDocClones(t *testing.T) {
	check := func(name string, orig, clone any) {
		t.Helper()
		if p := shared(reflect.ValueOf(orig), reflect.ValueOf(clone)); p != "" {
			t.Errorf("%s: the clone shares %s", name, p)
		}
	}
	var c companyRecord
	fill(reflect.ValueOf(&c).Elem())
	check("company", c, cloneCompany(c))
	var conn store.Connection
	fill(reflect.ValueOf(&conn).Elem())
	check("connection", conn, cloneConnection(conn))
	var d store.Dataset
	fill(reflect.ValueOf(&d).Elem())
	check("dataset", d, cloneDataset(d))
}

// fill sets every exported field under v: one element in each slice and
// map, a value behind each pointer.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// shared names the first map, slice or pointer a and b share; "" if none.
func shared(a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return a.Type().String()
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		if !a.IsNil() {
			return shared(a.Elem(), b.Elem())
		}
	case reflect.Slice:
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i)); p != "" {
				return p
			}
		}
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			return "" // its location is shared, never changed
		}
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i)); p != "" {
				return a.Type().Field(i).Name + "." + p
			}
		}
	}
	return ""
}

// TestDocsDroppedOnWrite: a document read again after the transaction
// wrote or deleted its key is what was written, and a caller's change to
// what getDoc returned is not seen by the next read.
func TestDocsDroppedOnWrite(t *testing.T) {
	b, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	k := connKey("co", "conn")
	err = b.update(t.Context(), func(txn *tx) error {
		if err := setJSON(txn, k, store.Connection{ID: "conn", Errors: []store.ConnectionError{{StatusText: "a"}}}); err != nil {
			return err
		}
		c, err := getDoc(txn, k, cloneConnection)
		if err != nil {
			return err
		}
		c.Errors[0].StatusText, c.AgentID = "changed", "changed"
		if c, _ = getDoc(txn, k, cloneConnection); c.Errors[0].StatusText != "a" || c.AgentID != "" {
			t.Errorf("read again: %+v, want the stored connection, not the caller's change", c)
		}
		if err := setJSON(txn, k, store.Connection{ID: "conn", AgentID: "agent-1"}); err != nil {
			return err
		}
		if c, _ = getDoc(txn, k, cloneConnection); c.AgentID != "agent-1" {
			t.Errorf("read after a write: agent %q, want agent-1", c.AgentID)
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
		if _, err := getDoc(txn, k, cloneConnection); !errors.Is(err, badger.ErrKeyNotFound) {
			t.Errorf("read after a delete: %v, want ErrKeyNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
