package storetest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// heldTests are the cases of what agents hold across the replicas for the
// moment: upload slots and refusal windows.
var heldTests = []struct {
	name string
	run  func(*fixture)
}{
	{"UploadSlots", testUploadSlots},
	{"UploadSlotsConcurrent", testUploadSlotsConcurrent},
	{"Refusals", testRefusals},
	{"RefusalsConcurrent", testRefusalsConcurrent},
}

// testUploadSlots checks that an agent holds at most limit slots, that a
// returned or ended slot is free again, and that a stale token frees
// nothing.
func testUploadSlots(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	const ttl = time.Minute
	take := func(agent string, sec int, want bool) string {
		t.Helper()
		token, err := s.TakeUploadSlot(ctx, agent, 2, at(sec), ttl)
		if err != nil || (token != "") != want {
			t.Fatalf("TakeUploadSlot(%s) at %ds = %q, %v; want a slot: %v", agent, sec, token, err, want)
		}
		return token
	}
	first := take("ag-1", 0, true)
	take("ag-1", 1, true)
	take("ag-1", 2, false)
	take("ag-2", 2, true) // another agent's slots are its own
	noErr(t, "ReturnUploadSlot", s.ReturnUploadSlot(ctx, "ag-1", first))
	noErr(t, "ReturnUploadSlot again", s.ReturnUploadSlot(ctx, "ag-1", first))
	third := take("ag-1", 3, true)
	take("ag-1", 4, false)
	// The slot taken at 1 ends at 61: free then, whoever held it.
	take("ag-1", 60, false)
	take("ag-1", 61, true)
	noErr(t, "ReturnUploadSlot(someone else's)", s.ReturnUploadSlot(ctx, "ag-2", third))
	take("ag-1", 62, false)
	noErr(t, "ReturnUploadSlot(unknown)", s.ReturnUploadSlot(ctx, "ag-1", "no-such-token"))
	take("ag-1", 62, false)
	if _, err := s.TakeUploadSlot(ctx, "ag-1", 0, at(0), ttl); err == nil {
		t.Error("TakeUploadSlot with limit 0: no error")
	}
}

// testUploadSlotsConcurrent checks that of many concurrent takes, limit
// win.
func testUploadSlotsConcurrent(f *fixture) {
	const n, limit = 16, 4
	var won atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			token, err := f.s.TakeUploadSlot(f.ctx, "ag", limit, at(0), time.Minute)
			if err != nil {
				f.Errorf("TakeUploadSlot: %v", err)
			}
			if token != "" {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != limit {
		f.Errorf("%d of %d concurrent takes got a slot, want %d", won.Load(), n, limit)
	}
}

// testRefusals checks a window's first refusal, the count of the rest,
// the window taken once when it ended, the next window opened at its
// end, and a window that counted nothing more deleted.
func testRefusals(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	const every = time.Minute
	count := func(agent string, sec int, what string, want bool) {
		t.Helper()
		first, err := s.CountRefusal(ctx, agent, "10.0.0.1:1", what, at(sec), every)
		if err != nil || first != want {
			t.Fatalf("CountRefusal(%s, %s) at %ds = %v, %v; want first %v", agent, what, sec, first, err, want)
		}
	}
	takes := func(sec int, want ...store.Refusals) {
		t.Helper()
		got, err := s.TakeRefusals(ctx, at(sec), every)
		if err != nil || len(got) != len(want) {
			t.Fatalf("TakeRefusals at %ds = %+v, %v; want %+v", sec, got, err, want)
		}
		for i := range got {
			if !got[i].Since.Equal(want[i].Since) {
				t.Errorf("TakeRefusals at %ds: since %s, want %s", sec, got[i].Since, want[i].Since)
			}
			got[i].Since = want[i].Since
			if got[i] != want[i] {
				t.Errorf("TakeRefusals at %ds: %+v, want %+v", sec, got[i], want[i])
			}
		}
	}
	count("ag-1", 0, "GET /a", true)
	count("ag-1", 10, "GET /b", false)
	count("ag-1", 20, "PUT /c", false)
	count("ag-2", 30, "GET /x", true)
	takes(59)
	// ag-1's window ended at 60 with 2 more; a refusal before it is
	// taken is counted in it.
	count("ag-1", 61, "PUT /d", false)
	takes(61, store.Refusals{AgentID: "ag-1", Since: at(0), N: 3, Last: "PUT /d", Remote: "10.0.0.1:1"})
	takes(61)
	// Its next window runs from 60 to 120: counted, not first.
	count("ag-1", 100, "GET /e", false)
	// ag-2's window ended at 90 counting nothing more: deleted, and its
	// next refusal is a first.
	takes(121, store.Refusals{AgentID: "ag-1", Since: at(60), N: 1, Last: "GET /e", Remote: "10.0.0.1:1"})
	count("ag-2", 122, "GET /y", true)
	// ag-1's window from 120 counted nothing: deleted at 180.
	takes(180)
	count("ag-1", 181, "GET /f", true)
}

// testRefusalsConcurrent checks that of concurrent refusals one is the
// first, the others are counted, and concurrent takes take the window
// once.
func testRefusalsConcurrent(f *fixture) {
	const n = 16
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			first, err := f.s.CountRefusal(f.ctx, "ag", "10.0.0.1:1", "GET /", at(0), time.Minute)
			if err != nil {
				f.Errorf("CountRefusal: %v", err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		f.Errorf("%d of %d concurrent refusals were first, want 1", firsts.Load(), n)
	}
	var taken atomic.Int32
	for range 4 {
		wg.Go(func() {
			got, err := f.s.TakeRefusals(f.ctx, at(60), time.Minute)
			if err != nil {
				f.Errorf("TakeRefusals: %v", err)
			}
			for _, r := range got {
				taken.Add(int32(r.N))
			}
		})
	}
	wg.Wait()
	if taken.Load() != n-1 {
		f.Errorf("concurrent takes took %d refusals, want %d once", taken.Load(), n-1)
	}
}
