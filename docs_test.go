package ferry_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// TestFlagsDocumented: every flag the two binaries define is in
// docs/operations.md, written as `--name`.
func TestFlagsDocumented(t *testing.T) {
	doc, err := os.ReadFile("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"coordinator/cmd/ferry-coordinator", "agent/cmd/ferry-agent"} {
		flags := flagNames(t, dir)
		if len(flags) == 0 {
			t.Fatalf("%s: no flags found", dir)
		}
		for _, name := range flags {
			if !strings.Contains(string(doc), "`--"+name) {
				t.Errorf("%s: flag --%s is not in docs/operations.md", dir, name)
			}
		}
	}
}

// TestDataTypesDocumented: the API reference's list of data types, and
// its section on the synced data, name every type the coordinator takes.
func TestDataTypesDocumented(t *testing.T) {
	doc, err := os.ReadFile("docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{"Data types: ", "The thirteen data types are "} {
		i := strings.Index(string(doc), start)
		if i < 0 {
			t.Errorf("docs/api.md has no paragraph starting %q", start)
			continue
		}
		para, _, _ := strings.Cut(string(doc[i:]), "\n\n")
		for _, dt := range dataset.DataTypes {
			if !strings.Contains(para, "`"+string(dt)+"`") {
				t.Errorf("docs/api.md's paragraph %q does not name %s", start, dt)
			}
		}
	}
}

// flagNames lists the names given to a FlagSet's definers (String,
// BoolVar, ...) in the non-test Go files of dir.
func flagNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	definers := map[string]int{ // method: index of the name argument
		"String": 0, "Bool": 0, "Duration": 0, "Int": 0,
		"StringVar": 1, "BoolVar": 1, "DurationVar": 1, "IntVar": 1,
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			recv, ok := sel.X.(*ast.Ident)
			i, known := definers[sel.Sel.Name]
			if !ok || recv.Name != "fs" || !known || len(call.Args) <= i {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a flag named by a non-literal", fset.Position(call.Pos()))
				return true
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			return true
		})
	}
	return names
}
