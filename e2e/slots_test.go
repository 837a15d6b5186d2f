package e2e

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCosts are the longest tests' rough durations in seconds (go test
// -race -v on the shared 2-core machine; only their order matters).
// The slots go to the longest waiting test first, so that the package
// does not end with one of them running alone: go test itself starts
// paused parallel tests in no set order (mostly the last declared
// first), which put these at the end. A test not listed costs 0.
var testCosts = map[string]int{
	"TestMillionSplitBookAgentMemory":              400,
	"TestChaosReplicas":                            220,
	"TestLinuxInstallersRunTheAgentAsASysVService": 180,
	"TestCoordinatorKilledMidSync":                 155,
	"TestAgentUpdateRefusals":                      140,
	"TestAgentRolloutRollsBackUnhealthy":           135,
	"TestChaos":                                    116,
	"TestReplicas":                                 100,
	"TestEveryBookEveryTypeAndReports":             90,
	"TestMSITablesAndSignatures":                   30,
}

// slots hands the package's tests their turns: as many at a time as
// -parallel says (GOMAXPROCS by default), the longest waiting first.
// TestMain sets go test's own -parallel so high that every test passes
// t.Parallel at once and waits here instead.
var slots = &scheduler{waiting: map[string]int{}}

type scheduler struct {
	mu   sync.Mutex
	cond sync.Cond
	free int
	// waiting counts the tests registered and not yet started, by name
	// (-count runs a test more than once).
	waiting map[string]int
}

// takeParallelFlag reads -test.parallel (the slots; GOMAXPROCS when not
// given) and sets it to a number no run reaches. It must run before
// m.Run and after flag.Parse.
func (s *scheduler) takeParallelFlag() {
	s.cond.L = &s.mu
	s.free = runtime.GOMAXPROCS(0)
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			if n, err := strconv.Atoi(f.Value.String()); err == nil && n > 0 {
				s.free = n
			}
		}
	})
	_ = flag.Set("test.parallel", "100000")
}

// parallel marks t as a parallel test, as every test of the package must
// be (TestEveryTestTakesASlot), and returns when it has a slot, which it
// holds until it ends. It must be called before t.Parallel would be:
// every test then registers in go test's first, one-at-a-time phase, so
// that the first slot knows them all.
func parallel(t *testing.T) {
	t.Helper()
	name := t.Name()
	slots.mu.Lock()
	slots.waiting[name]++
	slots.mu.Unlock()
	t.Parallel()
	start := time.Now()
	slots.mu.Lock()
	for slots.free == 0 || !slots.longestWaiting(name) {
		slots.cond.Wait()
	}
	slots.free--
	if slots.waiting[name]--; slots.waiting[name] == 0 {
		delete(slots.waiting, name)
	}
	// The next longest may be waiting for a slot that is still free.
	slots.cond.Broadcast()
	slots.mu.Unlock()
	// go test's time for the test counts from t.Parallel: it includes
	// this wait.
	if waited := time.Since(start); waited >= time.Second {
		t.Logf("waited %s for a slot", waited.Round(time.Second))
	}
	t.Cleanup(func() {
		slots.mu.Lock()
		slots.free++
		slots.cond.Broadcast()
		slots.mu.Unlock()
	})
}

// longestWaiting says whether no waiting test costs more than name.
func (s *scheduler) longestWaiting(name string) bool {
	for other := range s.waiting {
		if testCosts[other] > testCosts[name] {
			return false
		}
	}
	return true
}

// TestEveryTestTakesASlot: every test of the package calls parallel(t)
// and none calls t.Parallel itself, which would run it beside the slots'
// tests instead of in one of them.
func TestEveryTestTakesASlot(t *testing.T) {
	parallel(t)
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			takes := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch f := call.Fun.(type) {
				case *ast.Ident:
					takes = takes || f.Name == "parallel"
				case *ast.SelectorExpr:
					if f.Sel.Name == "Parallel" {
						t.Errorf("%s: %s calls t.Parallel: call parallel(t) instead", fset.Position(call.Pos()), fn.Name.Name)
					}
				}
				return true
			})
			if !takes {
				t.Errorf("%s: %s does not call parallel(t)", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
}
