package source

import (
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
