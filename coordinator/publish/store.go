package publish

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// Store is what validating and publishing need of the store. Each method
// keeps the contract written on it, which every backend keeps and
// storetest checks.
type Store interface {
	// Unprocessed returns the datasets in Validating or Processing, which
	// the coordinator itself must finish (after a restart, for one), in
	// dataset id order. Its cost does not grow with the history.
	Unprocessed(ctx context.Context) ([]store.Dataset, error)
	// Dataset returns one dataset of a company; store.ErrNotFound if
	// missing.
	Dataset(ctx context.Context, companyID, id string) (store.Dataset, error)
	// Pages calls fn with each page staged under the dataset's lease (or,
	// once committed, under its CommittedLease) in page order; pages of an
	// earlier attempt are never seen. store.ErrNotFound if the dataset is
	// missing. The page's Data may be the store's own: valid only until fn
	// returns, and never to be changed.
	Pages(ctx context.Context, datasetID string, fn func(store.Page) error) error
	// SetValidation stores a dataset's validation results, replacing any.
	SetValidation(ctx context.Context, companyID, datasetID string, v store.ValidationResult) error
	// Report applies a transition. With a lease id it is the agent's report,
	// fenced by that lease (store.ErrStaleLease when it no longer holds the
	// dataset); without one it is the coordinator's. An agent's report on a
	// dataset whose connection is not bound to it is store.ErrNotFound,
	// whatever the dataset's state, as for a dataset that does not exist. A
	// transition the table refuses to that mover is store.ErrTransition.
	// Reporting the status the dataset already has, under the same lease,
	// changes nothing and succeeds: reports are idempotent.
	Report(ctx context.Context, r store.Report) (store.Dataset, error)
	// PublishCache makes the staged pages of a Processing dataset the
	// company's cached records of its data type and moves the dataset to
	// Complete, atomically: a reader sees the old snapshot or the new one,
	// never a mix. The previous snapshot and the staged pages are deleted
	// (with those of datasets that ended since, failed ones for instance).
	// Records are the NDJSON lines of the pages, keyed by their id; of two
	// lines with one id the later is kept. store.ErrNotFound if the company
	// or dataset is missing, store.ErrTransition if the dataset is not
	// Processing. Publishing a dataset that is Complete and still the
	// current snapshot succeeds and changes nothing.
	PublishCache(ctx context.Context, companyID, datasetID string, now time.Time) (store.Dataset, error)
	// WriteSnapshot writes the records of a Validating or Processing
	// dataset's staged pages as its snapshot, out of every reader's sight,
	// calling check with each record (its NDJSON line) in page order
	// before it is written, and returns once the snapshot is durable: the
	// validation's pass over the records is the snapshot's too, and
	// PublishCache then swaps it in without writing it again. check's
	// error stops it and is returned, the snapshot left unfinished. A
	// snapshot written whole already is not written again, and check
	// still sees every record. The snapshot of a dataset that ends
	// otherwise (ValidationError) is an orphan, deleted by the next
	// publish of its type. store.ErrNotFound if the company or dataset is
	// missing, store.ErrTransition unless the dataset is Validating or
	// Processing.
	WriteSnapshot(ctx context.Context, companyID, datasetID string, check func(record []byte) error) error
	// FinishUpload ends a small Validating dataset in one transaction, as
	// SetValidation, Report and PublishCache called one after another
	// would, with nothing half applied: it stores f.Validation; then, when
	// f.Failure is empty, it moves the dataset to Processing at
	// f.Validated, makes the records of its staged pages the company's
	// cached records of its type and moves it to Complete at f.Now;
	// otherwise it moves it to ValidationError at f.Validated with
	// f.Failure as the message. store.ErrTooLarge when the staged pages
	// hold more than store.MaxFinishRecords records or
	// store.MaxFinishBytes bytes; store.ErrNotFound if the company or
	// dataset is missing; store.ErrTransition unless the dataset is
	// Validating. With f.LeaseID it is the agent's commit too, first in
	// the same transaction (store.Backend's FinishUpload says how). Each
	// error leaves the store as it was.
	FinishUpload(ctx context.Context, f store.Finish) (store.Dataset, error)
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets. Its cost does not
	// grow with the length of the history. store.ErrNotFound if the company
	// is missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error)
	// CachedRecordExists reports whether the current snapshot of
	// (company, data type) holds a record with that id, without reading
	// the record: false, nil when it does not or there is no snapshot;
	// store.ErrNotFound if the company is missing.
	CachedRecordExists(ctx context.Context, companyID string, dt string, id string) (bool, error)
}
