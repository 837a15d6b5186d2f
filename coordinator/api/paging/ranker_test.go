package paging

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestOffset(t *testing.T) {
	tests := []struct {
		p      Params
		want   int
		wantOK bool
	}{
		{Params{Page: 1, PageSize: 100}, 0, true},
		{Params{Page: 3, PageSize: 20}, 40, true},
		{Params{Page: math.MaxInt/5000 + 1, PageSize: 5000}, math.MaxInt / 5000 * 5000, true},
		{Params{Page: math.MaxInt/5000 + 2, PageSize: 5000}, 0, false},
		{Params{Page: math.MaxInt, PageSize: 1}, math.MaxInt - 1, true},
		{Params{Page: math.MaxInt, PageSize: 2}, 0, false},
		{Params{Page: math.MaxInt, PageSize: 100}, 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.p.Offset()
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Offset of page %d × %d = %d, %v; want %d, %v", tt.p.Page, tt.p.PageSize, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSortWindow(t *testing.T) {
	tests := []struct {
		p    Params
		want int // -1: refused
	}{
		{Params{Page: 1, PageSize: 1}, 1},
		{Params{Page: 2, PageSize: 5000}, 10_000},
		{Params{Page: 3, PageSize: 5000}, -1},
		{Params{Page: 3333, PageSize: 3}, 9999},
		{Params{Page: 3334, PageSize: 3}, -1},
		{Params{Page: 10_000, PageSize: 1}, 10_000},
		{Params{Page: 10_001, PageSize: 1}, -1},
		{Params{Page: math.MaxInt, PageSize: 100}, -1},
	}
	for _, tt := range tests {
		got, err := tt.p.SortWindow()
		switch {
		case tt.want < 0 && err == nil:
			t.Errorf("SortWindow of page %d × %d = %d; want it refused", tt.p.Page, tt.p.PageSize, got)
		case tt.want < 0:
			pe, ok := err.(*ParamError)
			if !ok || pe.Param != "page" || !strings.Contains(pe.Message, "orderBy") || !strings.Contains(pe.Message, "10000") {
				t.Errorf("SortWindow of page %d × %d: %v; want a ParamError naming page, orderBy and the bound", tt.p.Page, tt.p.PageSize, err)
			}
		case err != nil || got != tt.want:
			t.Errorf("SortWindow of page %d × %d = %d, %v; want %d", tt.p.Page, tt.p.PageSize, got, err, tt.want)
		}
	}
}

// rankerRecords are n records in id order whose fields repeat, are missing
// or null, and mix kinds, so that orders have ties to break.
func rankerRecords(n int, rng *rand.Rand) []map[string]any {
	names := []string{"alpha", "Alpha", "beta", "gamma", "", "Zeta"}
	recs := make([]map[string]any, n)
	for i := range recs {
		r := map[string]any{"id": fmt.Sprintf("r%04d", i)}
		switch rng.IntN(8) {
		case 0: // missing
		case 1:
			r["name"] = nil
		default:
			r["name"] = names[rng.IntN(len(names))]
		}
		if rng.IntN(6) != 0 {
			r["amount"] = json.Number(fmt.Sprintf("%d.%d", rng.IntN(5), rng.IntN(3)))
		} else if rng.IntN(2) == 0 {
			r["amount"] = "n/a" // text among numbers
		}
		r["when"] = fmt.Sprintf("2026-01-%02dT00:00:00Z", 1+rng.IntN(4))
		r["ok"] = rng.IntN(2) == 0
		r["ref"] = map[string]any{"n": json.Number(fmt.Sprint(rng.IntN(3)))}
		recs[i] = r
	}
	return recs
}

// A Ranker of n gives what a full stable sort puts first, for every order
// and every n, ties in the order added (id order, for the synced data).
func TestRankerMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := rankerRecords(300, rng)
	orders := []string{"name", "-name", "amount", "-amount", "when", "-when", "ok", "-ok", "ref.n", "-ref.n", "nothing", "-nothing", ""}
	for _, orderBy := range orders {
		full := slices.Clone(recs)
		Sort(full, orderBy)
		want := ids(full)
		for _, n := range []int{0, 1, 2, 7, 100, 299, 300, 301, 1000} {
			r := NewRanker[string](orderBy, n)
			for _, rec := range recs {
				r.Add(rec, func() string { return rec["id"].(string) })
			}
			got := r.Sorted()
			if w := want[:min(n, len(want))]; !slices.Equal(got, w) {
				t.Errorf("orderBy %q, n %d: got %v, want %v", orderBy, n, got, w)
			}
		}
	}
}

// A Ranker asks for the value of a record only while it is among the
// first n, and holds at most n.
func TestRankerHoldsN(t *testing.T) {
	r := NewRanker[int]("amount", 3)
	made := 0
	for i := range 1000 {
		// Descending amounts: each record ranks before every earlier one.
		r.Add(map[string]any{"amount": json.Number(fmt.Sprint(1000 - i))}, func() int { made++; return i })
		if len(r.heap) > 3 {
			t.Fatalf("holds %d records after %d added, want at most 3", len(r.heap), i+1)
		}
	}
	if got := r.Sorted(); !slices.Equal(got, []int{999, 998, 997}) {
		t.Errorf("Sorted = %v, want [999 998 997]", got)
	}
	r = NewRanker[int]("amount", 3)
	made = 0
	for i := range 1000 { // ascending: none after the first 3 ranks before them
		r.Add(map[string]any{"amount": json.Number(fmt.Sprint(i))}, func() int { made++; return i })
	}
	if made != 3 {
		t.Errorf("made %d values for records ranked after the first 3; want 3", made)
	}
}
