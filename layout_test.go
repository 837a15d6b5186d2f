package ferry_test

import (
	"os/exec"
	"slices"
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

// storageLibraries are the import paths of storage libraries, with their
// subpackages (database/sql/driver, which uuid implements, is no storage).
var storageLibraries = []string{"github.com/dgraph-io/badger", "github.com/jackc/pgx", "github.com/lib/pq"}

// TestStoreIsReplaceable enforces the shape #13 gave the coordinator: the
// rules packages import no storage library, not even through another
// package, and no package but coordinator/server and the backends
// themselves imports a backend (tests may open one directly).
func TestStoreIsReplaceable(t *testing.T) {
	const mod = "github.com/ferry-sync/ferry/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	type pkg struct{ imports, deps []string }
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkgs[f[0]] = pkg{strings.Fields(f[1]), strings.Fields(f[2])}
	}
	isStorage := func(path string) bool {
		if path == "database/sql" {
			return true
		}
		for _, l := range storageLibraries {
			if path == l || strings.HasPrefix(path, l+"/") {
				return true
			}
		}
		return false
	}
	// A backend is a coordinator package that imports a storage library
	// itself (the agent reads GnuCash's SQLite books through database/sql).
	// pgtest is not one: it runs PostgreSQL servers for the tests and the
	// e2e tools, and uses pgx only to create their databases.
	backends := map[string]bool{}
	for path, p := range pkgs {
		if path == mod+"coordinator/store/pgstore/pgtest" {
			continue
		}
		if strings.HasPrefix(path, mod+"coordinator/") && slices.ContainsFunc(p.imports, isStorage) {
			backends[path] = true
		}
	}
	if !backends[mod+"coordinator/store/badgerstore"] {
		t.Fatalf("the Badger backend was not found among %v", backends)
	}
	// The rules packages may depend on the standard library but
	// database/sql, on shared/, on store's plain types and on uuid: an
	// allowlist, so that a storage library not named above cannot creep in.
	allowed := func(path string) bool {
		switch {
		case !strings.Contains(strings.Split(path, "/")[0], "."):
			return !isStorage(path)
		case strings.HasPrefix(path, mod+"shared/"), path == mod+"coordinator/store":
			return true
		}
		return path == "github.com/google/uuid"
	}
	for _, rules := range []string{"coordinator/rules", "coordinator/store", "shared/dataset"} {
		p, ok := pkgs[mod+rules]
		if !ok {
			t.Fatalf("rules package %s is missing", rules)
		}
		for _, d := range p.deps {
			if !allowed(d) {
				t.Errorf("rules package %s depends on %s", rules, d)
			}
		}
	}
	for path, p := range pkgs {
		if path == mod+"coordinator/server" || backends[path] {
			continue
		}
		for _, imp := range p.imports {
			if backends[imp] {
				t.Errorf("%s imports the store backend %s: only coordinator/server may", path, imp)
			}
		}
	}
}
