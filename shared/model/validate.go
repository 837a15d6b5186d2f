package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// MaxFindings is how many errors, and apart from them how many warnings,
// a Validator keeps; it counts the rest.
const MaxFindings = 1000

// Finding is what one rule found in one record. An error (Warning false)
// fails the dataset; a warning is kept for the reader and does not.
type Finding struct {
	RuleID  string
	ItemID  string
	Message string
	Warning bool
}

// Lookup answers whether a record that another refers to exists: in the
// coordinator, in the cache of the referenced data type (its last Complete
// dataset for the same company).
type Lookup interface {
	// Exists reports whether a record of dt with that id exists. It
	// returns ErrNoCache when dt has never been synced, so there is
	// nothing to look in.
	Exists(dt dataset.DataType, id string) (bool, error)
}

// ErrNoCache is the Lookup's answer for a data type that has never been
// synced: a reference to it cannot be checked, which is a warning, not an
// error.
var ErrNoCache = errors.New("data type never synced")

// maxRefMemo bounds the answers of the Lookup a Validator remembers.
const maxRefMemo = 1 << 16

// Validator applies the rules to one dataset's records, one at a time, so
// that a dataset of any size is checked in little memory (the ids seen,
// for duplicates, and a bounded memo of the Lookup's answers).
type Validator struct {
	dt     dataset.DataType
	lookup Lookup

	seen    map[string]struct{}
	records int

	found               []Finding
	errors, warnings    int // every finding
	keptErrs, keptWarns int

	refs      map[refKey]bool
	uncached  map[dataset.DataType]bool // referenced types never synced
	lookupErr error
}

type refKey struct {
	dt dataset.DataType
	id string
}

// NewValidator returns a validator for the records of a dataset of data
// type dt. References are checked with lookup; with a nil lookup they are
// not checked.
func NewValidator(dt dataset.DataType, lookup Lookup) *Validator {
	return &Validator{dt: dt, lookup: lookup, seen: map[string]struct{}{},
		refs: map[refKey]bool{}, uncached: map[dataset.DataType]bool{}}
}

// Add checks one record, given as its JSON object. What is wrong with it
// becomes findings; the error is the Lookup's failure (ErrNoCache aside),
// after which the validation cannot be trusted.
func (v *Validator) Add(raw []byte) error {
	v.records++
	rec, err := Decode(v.dt, raw)
	if err != nil {
		c := &check{v: v, item: peekID(raw)}
		if errors.Is(err, ErrNotDecimal) {
			c.err(RuleDecimal, "an amount is %v", err)
		} else {
			c.err(RuleMalformed, "%v", err)
		}
		v.seen[c.item] = struct{}{}
		return nil
	}
	c := &check{v: v, item: rec.RecordID()}
	switch _, dup := v.seen[c.item]; {
	case strings.TrimSpace(c.item) == "":
		c.err(RuleID, "the record has no id")
		return nil
	case dup:
		c.err(RuleUniqueID, "id %s appears more than once", c.item)
		return nil
	}
	v.seen[c.item] = struct{}{}
	checkRecord(c, rec)
	return v.lookupErr
}

// peekID returns the id of a record Decode refused, if it has one.
func peekID(raw []byte) string {
	var rec struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &rec)
	return rec.ID
}

// Errors is the number of errors found, kept or not.
func (v *Validator) Errors() int { return v.errors }

// Warnings is the number of warnings found, kept or not.
func (v *Validator) Warnings() int { return v.warnings }

// Findings returns the findings kept, in the order found: up to
// MaxFindings errors and MaxFindings warnings, then, for each kind of which
// more were found, one RuleTruncated finding that counts them.
func (v *Validator) Findings() []Finding {
	out := append([]Finding(nil), v.found...)
	if n := v.errors - v.keptErrs; n > 0 {
		out = append(out, Finding{RuleID: RuleTruncated, Message: fmt.Sprintf("%d more errors were found and not kept", n)})
	}
	if n := v.warnings - v.keptWarns; n > 0 {
		out = append(out, Finding{RuleID: RuleTruncated, Warning: true,
			Message: fmt.Sprintf("%d more warnings were found and not kept", n)})
	}
	return out
}

func (v *Validator) add(f Finding) {
	if f.Warning {
		if v.warnings++; v.keptWarns < MaxFindings {
			v.keptWarns++
			v.found = append(v.found, f)
		}
		return
	}
	if v.errors++; v.keptErrs < MaxFindings {
		v.keptErrs++
		v.found = append(v.found, f)
	}
}

// exists asks the Lookup, once per referenced record; see check.ref.
func (v *Validator) exists(dt dataset.DataType, id string) (found, checked bool) {
	if v.lookup == nil || v.lookupErr != nil || v.uncached[dt] {
		return false, false
	}
	k := refKey{dt, id}
	if found, ok := v.refs[k]; ok {
		return found, true
	}
	found, err := v.lookup.Exists(dt, id)
	switch {
	case errors.Is(err, ErrNoCache):
		v.uncached[dt] = true
		return false, false
	case err != nil:
		v.lookupErr = fmt.Errorf("look up %s %q: %w", dt, id, err)
		return false, false
	}
	if len(v.refs) < maxRefMemo {
		v.refs[k] = found
	}
	return found, true
}

// check is the checking of one record: its findings carry its id.
type check struct {
	v    *Validator
	item string
}

func (c *check) err(rule, format string, args ...any) {
	c.v.add(Finding{RuleID: rule, ItemID: c.item, Message: fmt.Sprintf(format, args...)})
}

func (c *check) warn(rule, format string, args ...any) {
	c.v.add(Finding{RuleID: rule, ItemID: c.item, Message: fmt.Sprintf(format, args...), Warning: true})
}

// ref checks that the record of data type dt with that id exists: an error
// under rule when it does not; one warning per dataset and referenced type
// when that type has never been synced. what names the reference in the
// messages ("line 2 account").
func (c *check) ref(rule string, dt dataset.DataType, id, what string) {
	wasUncached := c.v.uncached[dt]
	found, checked := c.v.exists(dt, id)
	switch {
	case checked && !found:
		c.err(rule, "%s %s is not among the synced %s", what, id, dt)
	case !checked && !wasUncached && c.v.uncached[dt]:
		c.warn(rule, "%s have never been synced for this company, so references to them were not checked", dt)
	}
}
