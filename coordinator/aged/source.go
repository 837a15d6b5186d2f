package aged

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Store is what a report reads of the store.
type Store interface {
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets; store.ErrNotFound
	// if the company is missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. store.ErrNotFound if the company is missing.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
}

// MissingError is the refusal of a report when a data type it reads has
// no Complete dataset.
type MissingError struct {
	Kind    Kind
	Missing []dataset.DataType
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("the %s report needs a Complete dataset of %v; none of %v: queue them", e.Kind.Name, e.Kind.Required(), e.Missing)
}

// Open returns the reader of the company's records kind is computed from:
// the cached records of each type's latest Complete dataset. A type whose
// newest dataset ended NotSupported, and that was never Complete, has no
// records (the source has none of them). A type with neither is a
// *MissingError; a missing company store.ErrNotFound.
func Open(ctx context.Context, st Store, companyID string, kind Kind) (Records, error) {
	status, err := st.DataStatus(ctx, companyID)
	if err != nil {
		return nil, err
	}
	var missing []dataset.DataType
	for _, dt := range kind.Required() {
		ts, ok := status[dt]
		if !ok || ts.LatestSuccessful == nil && ts.Latest.Status != dataset.NotSupported {
			missing = append(missing, dt)
		}
	}
	if missing != nil {
		return nil, &MissingError{Kind: kind, Missing: missing}
	}
	return func(dt dataset.DataType, fn func([]byte) error) error {
		return st.CachedRecords(ctx, companyID, string(dt), func(_ string, rec []byte) error { return fn(rec) })
	}, nil
}
