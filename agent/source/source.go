// Package source is what the agent's connectors implement: a binding's
// local data (a GnuCash book, a folder of CSV files) read and mapped to
// Ferry's standard model, one data type at a time, as a stream.
//
// A dataset goes through two phases on the agent: Fetching (Source.Fetch
// opens and checks the local data) and Mapping (Batch.Records streams the
// mapped records). A connector's failure is an *Error naming the terminal
// status the dataset ends in, so the agent reports it without guessing.
package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Record is one standard-model record as JSON-ready values; it has an "id".
// Amounts are json.Number, never float64, so they stay exact.
type Record = map[string]any

// Source is one binding's local data, opened from its platform key and path.
type Source interface {
	// DataTypes lists the types this source can provide, checked now (for
	// the hello message).
	DataTypes() []dataset.DataType
	// Fetch is the Fetching phase: open and check the local data for dt.
	// It fails with *Error whose Status is FetchError, NotSupported or
	// AuthError, the ends a dataset in Fetching may reach.
	Fetch(ctx context.Context, dt dataset.DataType) (Batch, error)
}

// Batch is the Mapping phase: it streams records mapped to the standard
// model.
type Batch interface {
	// Records calls emit for each record in order; it stops at the first
	// error. It is called once. Memory must not grow with the number of
	// records. A fault in the data is an *Error with Status MapError; an
	// error from emit, or ctx's, is returned as it is.
	Records(ctx context.Context, emit func(Record) error) error
	// Close releases what Fetch opened.
	Close() error
}

// Warning is something a source noticed that does not stop the sync but
// that whoever reads the data should know: the book was open in GnuCash,
// so changes not yet saved are not in it. RuleID names the kind
// ("source.bookOpen"); Message is for a person.
type Warning struct {
	RuleID  string
	Message string
}

// Warner is a Batch that has warnings about the data it reads, known once
// Fetch has returned it. The agent sends them with the Mapping report; the
// coordinator adds them to the dataset's validation warnings and its
// statusDescription.
type Warner interface {
	Warnings() []Warning
}

// Error classifies a failure into the terminal dataset status it ends in
// (FetchError, NotSupported, AuthError, MapError) with a message a person
// understands, such as "folder /srv/books does not exist" or
// "invoices.csv line 12, column totalAmount: "12,50" is not a decimal number".
type Error struct {
	Status  dataset.Status
	Message string
	Err     error // the cause, if any, for errors.Is
}

// Locker is a Source that can tell whether the accounting program holds
// its local data locked now, as a Fetch would find it (FetchBookLocked):
// the agent does not update itself meanwhile.
type Locker interface {
	Locked() bool
}

// IsLocked reports whether err, from opening a file, says another
// program holds it locked (a sharing or lock violation, on Windows).
func IsLocked(err error) bool { return locked(err) }

// FetchKind is what kind of FetchError e is, one of protocol's Fetch*
// kinds: the book missing (its cause fs.ErrNotExist), locked by the
// accounting program (a sharing or lock violation, on Windows), or
// unreadable (anything else: no permission, not a book). Empty for
// another status.
func (e *Error) FetchKind() string {
	switch {
	case e.Status != dataset.FetchError:
		return ""
	case errors.Is(e.Err, fs.ErrNotExist):
		return protocol.FetchBookMissing
	case locked(e.Err):
		return protocol.FetchBookLocked
	}
	return protocol.FetchBookUnreadable
}

func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Fetchf is an *Error of Status FetchError with the formatted message and
// the cause err (nil for none).
func Fetchf(err error, format string, args ...any) *Error {
	return &Error{Status: dataset.FetchError, Message: fmt.Sprintf(format, args...), Err: err}
}

// Reason is err's cause without the path a message already names: what a
// *fs.PathError wraps, or err itself.
func Reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check is what every Fetch checks first: dt is a data type (an *Error of
// Status NotSupported if not) and ctx has not ended (its error).
func Check(ctx context.Context, dt dataset.DataType) error {
	if !dt.Valid() {
		return &Error{Status: dataset.NotSupported,
			Message: fmt.Sprintf("%q is not a data type; they are %s", dt, dataset.DataTypeNames())}
	}
	return ctx.Err()
}

// MultiSource is a Source that maps several data types from one read of
// its data: a GnuCash book opened and parsed once for all of them, rather
// than once per type. The agent reads the types queued together this way
// (FetchTypes).
type MultiSource interface {
	Source
	// FetchTypes is the Fetching phase of the data types dts read
	// together: it opens and checks the local data once, and every type is
	// read from that one version of it. Its error is what Fetch would
	// return for each of them (an *Error of Status FetchError or
	// AuthError, or ctx's); a type that cannot be read on its own account
	// (not a data type) is told by the batch's Fetched.
	FetchTypes(ctx context.Context, dts []dataset.DataType) (MultiBatch, error)
}

// MultiBatch is the Mapping phase of several data types read together.
type MultiBatch interface {
	// Fetched is what the Fetching phase found for dt, one of the types
	// fetched: the warnings its Mapping report carries, or the *Error its
	// dataset ends in (NotSupported, FetchError) when it is not read.
	Fetched(dt dataset.DataType) ([]Warning, error)
	// Records reads the data for the sinks' types and sends each type's
	// records to its sink, in order within a type; the types' records
	// interleave. Each sink's Done is called once, as soon as its type is
	// finished, so that its dataset can be committed while the read goes
	// on: with nil when every record was emitted, else with why not (an
	// *Error of Status MapError for a fault in the data, the error its
	// Emit returned, or ctx's). A sink whose Emit fails, or whose type
	// meets a fault of its own, is done and the read goes on for the
	// others; a fault in what every type reads (a broken book) ends each
	// type still going. Records returns once every sink is done, and is
	// called once. Memory must not grow with the number of records.
	Records(ctx context.Context, sinks []Sink)
	// Close releases what FetchTypes opened.
	Close() error
}

// Sink is where a read of several data types sends the records of one.
type Sink struct {
	Type dataset.DataType
	// Emit takes each record; an error ends this type's records.
	Emit func(Record) error
	// Done is called once, when the type is finished (see
	// MultiBatch.Records).
	Done func(error)
}

// FetchTypes opens src's data for the data types dts: once for all of them
// when src is a MultiSource, else with a Fetch for each type (a folder of
// CSV files, one per type, has nothing to share between them), whose
// records are then read one type after another.
func FetchTypes(ctx context.Context, src Source, dts []dataset.DataType) (MultiBatch, error) {
	if ms, ok := src.(MultiSource); ok {
		return ms.FetchTypes(ctx, dts)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := eachBatch{}
	for _, dt := range dts {
		if _, done := e[dt]; done {
			continue
		}
		b, err := src.Fetch(ctx, dt)
		if err != nil && ctx.Err() != nil {
			e.Close()
			return nil, ctx.Err()
		}
		e[dt] = fetched{b, err}
	}
	return e, nil
}

// fetched is one type's Fetch: its batch, or its error.
type fetched struct {
	b   Batch
	err error
}

// eachBatch is FetchTypes of a Source that reads one type at a time.
type eachBatch map[dataset.DataType]fetched

func (e eachBatch) Fetched(dt dataset.DataType) ([]Warning, error) {
	f, ok := e[dt]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s was not fetched", dt)
	case f.err != nil:
		return nil, f.err
	}
	if w, ok := f.b.(Warner); ok {
		return w.Warnings(), nil
	}
	return nil, nil
}

// Records reads each sink's type with its own batch, one after another.
// A batch is read once: a second sink of the same type is refused.
func (e eachBatch) Records(ctx context.Context, sinks []Sink) {
	read := map[dataset.DataType]bool{}
	for _, s := range sinks {
		f := e[s.Type]
		switch {
		case f.b == nil:
			s.Done(fmt.Errorf("%s was not fetched", s.Type))
		case read[s.Type]:
			s.Done(fmt.Errorf("%s is read once", s.Type))
		case ctx.Err() != nil:
			s.Done(ctx.Err())
		default:
			read[s.Type] = true
			s.Done(f.b.Records(ctx, s.Emit))
		}
	}
}

func (e eachBatch) Close() error {
	var errs []error
	for _, f := range e {
		if f.b != nil {
			errs = append(errs, f.b.Close())
		}
	}
	return errors.Join(errs...)
}
