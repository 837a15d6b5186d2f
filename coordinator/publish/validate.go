package publish

import (
	"context"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
	"github.com/ferry-sync/ferry/shared/ndjson"
)

// SourceValidator is the validatorName of the warnings an agent's source
// sent with its reports (the book was open in GnuCash): they come first
// among the dataset's validation warnings.
const SourceValidator = "source"

// runValidation applies the standard model's rules (shared/model) to the
// dataset's staged records, page by page, and returns what they found and
// how many errors in all (the result keeps at most model.MaxFindings of
// each kind); last, unless nil, is a page not yet staged that follows
// them (when it is page 1, nothing staged is read). small reports whether
// the records fit the one transaction of Store.FinishUpload.
func (p *Publisher) runValidation(ctx context.Context, d store.Dataset, last *store.Page) (res store.ValidationResult, errs int, small bool, err error) {
	return p.validateRecords(ctx, d, func(add func([]byte) error) error {
		each := func(pg store.Page) error { return ndjson.Each(pg.Data, add) }
		var err error
		if last == nil || last.N > 1 {
			err = p.st.Pages(ctx, d.ID, each)
		}
		if err == nil && last != nil {
			err = each(*last)
		}
		return err
	})
}

// validateWriting is runValidation in the pass that writes the dataset's
// snapshot (Store.WriteSnapshot): the records are read once, and Badger
// writes them while the rules check the next ones.
func (p *Publisher) validateWriting(ctx context.Context, d store.Dataset) (res store.ValidationResult, errs int, small bool, err error) {
	return p.validateRecords(ctx, d, func(add func([]byte) error) error {
		return p.st.WriteSnapshot(ctx, d.CompanyID, d.ID, add)
	})
}

// validateRecords applies the rules to the records read calls add with,
// in order. References resolve against the company's cache. small
// reports whether the records fit the one transaction of
// Store.FinishUpload (store.MaxFinishRecords, store.MaxFinishBytes, a
// line's newline counted).
func (p *Publisher) validateRecords(ctx context.Context, d store.Dataset, read func(add func([]byte) error) error) (res store.ValidationResult, errs int, small bool, err error) {
	v := model.NewValidator(d.DataType, &cacheLookup{ctx: ctx, st: p.st, companyID: d.CompanyID})
	var records, bytes int
	err = read(func(line []byte) error {
		records++
		bytes += len(line) + 1
		return v.Add(line)
	})
	if err != nil {
		return store.ValidationResult{}, 0, false, err
	}
	small = records <= store.MaxFinishRecords && bytes <= store.MaxFinishBytes
	res = store.ValidationResult{Errors: []store.ValidationItem{}, Warnings: []store.ValidationItem{}}
	for _, w := range d.Warnings {
		res.Warnings = append(res.Warnings, store.ValidationItem{RuleID: w.RuleID, Message: w.Message, ValidatorName: SourceValidator})
	}
	for _, f := range v.Findings() {
		item := store.ValidationItem{RuleID: f.RuleID, ItemID: f.ItemID, Message: f.Message, ValidatorName: string(d.DataType)}
		if f.Warning {
			res.Warnings = append(res.Warnings, item)
		} else {
			res.Errors = append(res.Errors, item)
		}
	}
	return res, v.Errors(), small, nil
}

// cacheLookup is the model.Lookup of one dataset's validation: a
// referenced record exists when it is in the company's cache of its type,
// the records of that type's last Complete dataset.
//
// The cache alone cannot say "never synced": CachedRecordExists is false,
// and CachedRecords calls nothing, both for a type with no snapshot and for
// one whose last sync held no records. DataStatus can: a type has a
// snapshot exactly when it has a Complete dataset (PublishCache completes
// the dataset and points at its snapshot in one transaction, and only
// deleting the company deletes either). It is asked once per validation.
type cacheLookup struct {
	ctx       context.Context
	st        Store
	companyID string
	synced    map[dataset.DataType]bool // nil until asked
}

var _ model.Lookup = (*cacheLookup)(nil)

func (l *cacheLookup) Exists(dt dataset.DataType, id string) (bool, error) {
	if l.synced == nil {
		status, err := l.st.DataStatus(l.ctx, l.companyID)
		if err != nil {
			return false, err
		}
		l.synced = map[dataset.DataType]bool{}
		for t, s := range status {
			l.synced[t] = s.LatestSuccessful != nil
		}
	}
	if !l.synced[dt] {
		return false, model.ErrNoCache
	}
	return l.st.CachedRecordExists(l.ctx, l.companyID, string(dt), id)
}
