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
