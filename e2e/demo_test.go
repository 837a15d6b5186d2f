package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeRunDemo runs what `make run` runs, with -exit: a coordinator and
// an agent on the sample book, every type Complete, records shown.
func TestMakeRunDemo(t *testing.T) {
	parallel(t)
	book, _ := filepath.Abs("../testdata/sample-gnucash/books.gnucash")
	cmd := exec.Command(filepath.Join(binDir, "demo"), "-exit", "-bin", binDir, "-dir", filepath.Join(t.TempDir(), "run"),
		"-listen", freeAddr(t), "-path", book)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"invoices         Complete", "journalEntries   Complete", "63 chartOfAccounts synced", "1 invoices synced", "3 suppliers synced"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
