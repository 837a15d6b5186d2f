package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

func TestFetchfAndReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.gnucash")
	_, err := os.Open(path)
	e := Fetchf(err, "cannot open %s: %v", "the book", Reason(err))
	if e.Status != dataset.FetchError || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("Fetchf = %+v, want a FetchError wrapping fs.ErrNotExist", e)
	}
	if want := "cannot open the book: " + errors.Unwrap(err).Error(); e.Error() != want {
		t.Errorf("message %q, want %q: the path said once", e.Error(), want)
	}
	plain := errors.New("plain")
	if Reason(plain) != plain {
		t.Error("Reason changed an error that names no path")
	}
}

func TestCheck(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	if err := Check(ctx, dataset.Invoices); err != nil {
		t.Errorf("Check(invoices) = %v", err)
	}
	var e *Error
	if err := Check(ctx, "invoice"); !errors.As(err, &e) || e.Status != dataset.NotSupported {
		t.Errorf("Check(invoice) = %v, want NotSupported", err)
	}
	cancel()
	if err := Check(ctx, dataset.Invoices); !errors.Is(err, context.Canceled) {
		t.Errorf("Check after cancel = %v, want context.Canceled", err)
	}
}
