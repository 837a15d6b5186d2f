package rules

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ferry-sync/ferry/"

// TestImportsNoStorage checks that the rules, and every package of the
// module they import, import no storage library and no store backend: a
// backend calls the rules, never the other way round.
func TestImportsNoStorage(t *testing.T) {
	allowed := func(path string) bool {
		switch {
		case !strings.Contains(strings.Split(path, "/")[0], "."):
			return path != "database/sql" // the standard library
		case strings.HasPrefix(path, module+"shared/"), path == module+"coordinator/store":
			return true
		}
		return path == "github.com/google/uuid"
	}
	seen := map[string]bool{}
	var walk func(pkg string)
	walk = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		for _, imp := range imports(t, filepath.Join("..", "..", strings.TrimPrefix(pkg, module))) {
			if !allowed(imp) {
				t.Errorf("%s imports %s", pkg, imp)
			}
			if strings.HasPrefix(imp, module) {
				walk(imp)
			}
		}
	}
	walk(module + "coordinator/rules")
	if !seen[module+"coordinator/store"] {
		t.Error("the walk did not reach coordinator/store: the test reads the wrong files")
	}
}

// imports lists the imports of the package in dir, its tests left out.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range af.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			out = append(out, p)
		}
	}
	return out
}
