package hub

import (
	"encoding/json"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// maxFindings bounds the validation results kept per dataset.
const maxFindings = 1000

// validator applies the rules that need no knowledge of the standard model
// beyond ids: every record has an id, and no id appears twice.
type validator struct {
	dt       dataset.DataType
	seen     map[string]struct{}
	res      store.ValidationResult
	problems int
}

func newValidator(dt dataset.DataType) *validator {
	return &validator{dt: dt, seen: map[string]struct{}{}}
}

func (v *validator) record(raw json.RawMessage) error {
	var rec struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil || rec.ID == "" {
		v.fail("record.id", "", "a record has no id")
		return nil
	}
	if _, dup := v.seen[rec.ID]; dup {
		v.fail("record.uniqueId", rec.ID, fmt.Sprintf("id %s appears more than once", rec.ID))
		return nil
	}
	v.seen[rec.ID] = struct{}{}
	return nil
}

func (v *validator) fail(rule, id, msg string) {
	v.problems++
	if len(v.res.Errors) < maxFindings {
		v.res.Errors = append(v.res.Errors, store.ValidationItem{RuleID: rule, ItemID: id, Message: msg, ValidatorName: string(v.dt)})
	}
}

func (v *validator) result() store.ValidationResult {
	if v.res.Errors == nil {
		v.res.Errors = []store.ValidationItem{}
	}
	if v.res.Warnings == nil {
		v.res.Warnings = []store.ValidationItem{}
	}
	return v.res
}
