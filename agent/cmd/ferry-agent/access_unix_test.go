//go:build !windows

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root links a book the service account cannot read: link warns, and
// stays quiet once the account can read it.
func TestLinkWarnsWhenTheServiceCannotReadTheBook(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to check access as another user")
	}
	const nobody = 65534
	confDir := filepath.Join(t.TempDir(), "ferry")
	if err := os.Mkdir(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(confDir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	books, err := os.MkdirTemp("", "ferry-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(books) })
	book := filepath.Join(books, "books.gnucash")
	if err := os.WriteFile(book, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(books, 0o755)
	var out bytes.Buffer
	warnUnreadable(&out, filepath.Join(confDir, "agent.json"), book)
	if !strings.Contains(out.String(), "cannot read "+book) {
		t.Errorf("no warning for an unreadable book: %q", out.String())
	}
	os.Chmod(book, 0o644)
	out.Reset()
	warnUnreadable(&out, filepath.Join(confDir, "agent.json"), book)
	if out.Len() != 0 {
		t.Errorf("warning for a readable book: %q", out.String())
	}
}
