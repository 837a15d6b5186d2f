//go:build !windows

package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The service account's access is checked as that account (nobody here),
// on real files with real modes, and the path at fault is named.
func TestCheckAccessAsTheServiceAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to check access as another account")
	}
	// Not t.TempDir(): its parent is 0700, which nobody may not enter.
	root, err := os.MkdirTemp("", "ferry-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	mk := func(path string, mode os.FileMode, dir bool) string {
		t.Helper()
		p := filepath.Join(root, path)
		if dir {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk(".", 0o755, true)
	open := mk("open", 0o755, true)
	locked := mk("locked", 0o700, true)
	mk("open/books", 0o750, true)
	tests := []struct {
		name    string
		need    Need
		atFault string // "" when the account reaches it
		fix     string
	}{
		{"binary", Need{Path: mk("open/ferry-agent", 0o755, false), What: "the agent binary", Exec: true}, "", ""},
		{"binary in a root-only folder", Need{Path: mk("locked/ferry-agent", 0o755, false), What: "the agent binary", Exec: true}, locked, "chmod o+x " + locked},
		{"binary not executable", Need{Path: mk("open/not-exec", 0o644, false), What: "the agent binary", Exec: true}, filepath.Join(open, "not-exec"), "chmod 0755"},
		{"book", Need{Path: mk("open/shop.gnucash", 0o644, false), What: "the book"}, "", ""},
		{"book owner-only", Need{Path: mk("open/secret.gnucash", 0o600, false), What: "the book"}, filepath.Join(open, "secret.gnucash"), "setfacl -m u:nobody:r "},
		{"csv folder not listable", Need{Path: mk("open/csv", 0o700, true), What: "the CSV folder"}, filepath.Join(open, "csv"), "setfacl -m u:nobody:rX "},
		{"book in a group-only folder", Need{Path: filepath.Join(open, "books", "a.gnucash"), What: "the book"}, filepath.Join(open, "books"), "setfacl -m u:nobody:x "},
	}
	for _, tt := range tests {
		err := CheckAccess("nobody", []Need{tt.need})
		t.Log(err)
		var ae *AccessError
		switch {
		case tt.atFault == "" && err != nil:
			t.Errorf("%s: %v, want nobody to reach it", tt.name, err)
		case tt.atFault == "":
		case !errors.As(err, &ae):
			t.Errorf("%s: %v, want an *AccessError", tt.name, err)
		case testing.Verbose() && false:
		case ae.Path != tt.atFault || !strings.Contains(err.Error(), tt.atFault) || !strings.Contains(err.Error(), tt.fix):
			t.Errorf("%s: got %q at %s, want %s at fault and the fix %q", tt.name, err, ae.Path, tt.atFault, tt.fix)
		}
	}
	// Several needs: the first one at fault is named.
	err = CheckAccess("nobody", []Need{{Path: filepath.Join(open, "ferry-agent"), What: "the agent binary", Exec: true},
		{Path: filepath.Join(open, "secret.gnucash"), What: "the book"}})
	if err == nil || !strings.Contains(err.Error(), "secret.gnucash") {
		t.Errorf("two needs, the second unreadable: %v", err)
	}
}
