package gnucash

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestPatch: a copy that differs from its book in places, is longer or is
// shorter, is made equal to it.
func TestPatch(t *testing.T) {
	dir := t.TempDir()
	book := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	src := filepath.Join(dir, "book")
	os.WriteFile(src, book, 0o600)
	changed := bytes.Clone(book)
	changed[10] = 'X'
	changed[2<<20+5] = 'Y'
	for name, cp := range map[string][]byte{
		"changed pages": changed, "longer": append(bytes.Clone(book), "tail"...),
		"shorter": book[:1<<20+3], "empty": nil, "same": book,
	} {
		dst := filepath.Join(dir, name)
		os.WriteFile(dst, cp, 0o600)
		if err := patch(src, dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, book) {
			t.Errorf("%s: the patched copy (%d bytes) differs from the book (%d bytes)", name, len(got), len(book))
		}
	}
}
