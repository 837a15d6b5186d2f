package ferry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces the layout of STYLE.md: shared/ imports neither
// agent/ nor coordinator/, and agent/ imports no coordinator package and no
// Badger.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/ferry-sync/ferry/"
	rules := []struct {
		pkgPrefix string
		forbidden []string
	}{
		{mod + "shared/", []string{mod + "agent/", mod + "coordinator/"}},
		{mod + "agent/", []string{mod + "coordinator/", "github.com/dgraph-io/badger"}},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.pkgPrefix) {
				continue
			}
			checked++
			for _, d := range strings.Fields(deps) {
				for _, f := range r.forbidden {
					if strings.HasPrefix(d, f) {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no shared/ or agent/ package was checked")
	}
}
