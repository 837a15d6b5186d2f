package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/ferry-sync/ferry/e2e/sim"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// verdict is what the check found.
type verdict struct {
	Seed       uint64
	Agents     int
	Acked      int            // queue calls answered 200
	Datasets   int            // datasets in the store, first-link ones included
	ByStatus   map[string]int // datasets by final status
	Faults     map[string]int
	Caches     int // Complete caches compared with their source
	Violations []string
}

func (v *verdict) print(w io.Writer) {
	fmt.Fprintf(w, "seed %d: %d agents, %d datasets queued and acknowledged, %d in the store\n", v.Seed, v.Agents, v.Acked, v.Datasets)
	for _, k := range slices.Sorted(maps.Keys(v.Faults)) {
		fmt.Fprintf(w, "  fault %-22s %d\n", k, v.Faults[k])
	}
	for _, k := range slices.Sorted(maps.Keys(v.ByStatus)) {
		fmt.Fprintf(w, "  status %-21s %d\n", k, v.ByStatus[k])
	}
	fmt.Fprintf(w, "  caches equal to their source: %d checked\n", v.Caches)
	if len(v.Violations) == 0 {
		fmt.Fprintln(w, "PASS: zero lost, zero stuck, zero doubled")
		return
	}
	for i, s := range v.Violations {
		if i == 50 {
			fmt.Fprintf(w, "  ... and %d more\n", len(v.Violations)-50)
			break
		}
		fmt.Fprintln(w, "  VIOLATION:", s)
	}
	fmt.Fprintf(w, "FAIL: %d violations\n", len(v.Violations))
}

// check reads every company's history and cache and checks the invariants.
func (ch *chaosRun) check(ctx context.Context) (*verdict, error) {
	v := &verdict{Seed: ch.o.seed, Agents: len(ch.agents), Acked: ch.queued(), ByStatus: map[string]int{}, Faults: ch.faults}
	online := ch.g.Online() == len(ch.agents)
	var mu sync.Mutex
	found := map[string]bool{}
	fail := func(format string, args ...any) {
		mu.Lock()
		v.Violations = append(v.Violations, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	err := sim.Parallel(ctx, len(ch.agents), 8, func(i int) error {
		a := ch.agents[i]
		hist, err := ch.c.History(ctx, a.CompanyID)
		if err != nil {
			return err
		}
		claims := 0
		for _, d := range hist {
			claims += checkTimeline(d, a, online, fail)
		}
		mu.Lock()
		v.Datasets += len(hist)
		for _, d := range hist {
			v.ByStatus[d.Status]++
			found[d.ID] = true
		}
		told := ch.fetches[a.CompanyID]
		mu.Unlock()
		if told > claims {
			fail("company %s: its agent was told it won %d claims, the timelines hold %d", a.CompanyID, told, claims)
		}
		ok, err := ch.checkCache(ctx, a, hist, fail)
		if ok {
			mu.Lock()
			v.Caches++
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for id, co := range ch.acked {
		if !found[id] {
			fail("lost: dataset %s of company %s was acknowledged to the queue call and is not in the history", id, co)
		}
	}
	slices.Sort(v.Violations)
	return v, nil
}

// checkTimeline checks one dataset's timeline and returns how many claims
// (moves to Fetching) it holds.
func checkTimeline(d sim.Dataset, a sim.Agent, online bool, fail func(string, ...any)) int {
	name := fmt.Sprintf("dataset %s (%s of company %s)", d.ID, d.DataType, a.CompanyID)
	tl := d.Timeline
	if len(tl) == 0 || tl[0].To != string(dataset.Queued) {
		fail("%s: the timeline does not start with Queued", name)
		return 0
	}
	claims, terminals, completes := 0, 0, 0
	claimed := map[int]string{} // attempt -> the agent that claimed
	for i, s := range tl {
		if i > 0 {
			prev := tl[i-1]
			if s.From != prev.To {
				fail("%s: step %d goes from %s, the previous step ended in %s", name, i, s.From, prev.To)
			}
			if !dataset.CanTransition(dataset.Status(s.From), dataset.Status(s.To)) {
				fail("%s: step %d, %s -> %s, is not in the transition table", name, i, s.From, s.To)
			}
			if dataset.Status(prev.To).Terminal() {
				fail("%s: step %d changes it after it ended %s", name, i, prev.To)
			}
		}
		if s.Actor != "coordinator" && s.Actor != a.AgentID {
			fail("%s: step %d by %s, not the connection's agent %s", name, i, s.Actor, a.AgentID)
		}
		switch {
		case s.To == string(dataset.Fetching):
			claims++
			if who, twice := claimed[s.Attempt]; twice {
				fail("%s: attempt %d claimed twice (by %s, then %s)", name, s.Attempt, who, s.Actor)
			}
			claimed[s.Attempt] = s.Actor
		case s.Actor != "coordinator" && claimed[s.Attempt] != s.Actor:
			fail("%s: step %d by %s under attempt %d, which %q claimed", name, i, s.Actor, s.Attempt, claimed[s.Attempt])
		}
		if dataset.Status(s.To).Terminal() {
			terminals++
		}
		if s.To == string(dataset.Complete) {
			completes++
		}
	}
	last := tl[len(tl)-1].To
	switch {
	case completes > 1:
		fail("%s: completed %d times", name, completes)
	case terminals > 1:
		fail("%s: ended %d times", name, terminals)
	case last != d.Status:
		fail("%s: status %s, the timeline ends in %s", name, d.Status, last)
	case !sim.Terminal(d.Status) && (d.Status != string(dataset.Queued) || online):
		fail("stuck: %s is %s with its agent online", name, d.Status)
	}
	return claims
}

// checkCache compares the served customers with the agent's source when a
// customers dataset is Complete; ok says it was compared.
func (ch *chaosRun) checkCache(ctx context.Context, a sim.Agent, hist []sim.Dataset, fail func(string, ...any)) (bool, error) {
	if !slices.ContainsFunc(hist, func(d sim.Dataset) bool { return d.DataType == "customers" && d.Status == "Complete" }) {
		return false, nil
	}
	var page struct {
		Results      []map[string]any
		TotalResults int
	}
	path := fmt.Sprintf("/companies/%s/data/customers?pageSize=5000", a.CompanyID)
	if s, err := ch.c.Call(ctx, "GET", path, nil, &page); err != nil || s != 200 {
		return false, fmt.Errorf("GET %s: status %d, %v", path, s, err)
	}
	if page.TotalResults != ch.o.records || len(page.Results) != ch.o.records {
		fail("cache of company %s: %d records served (total %d), the source has %d", a.CompanyID, len(page.Results), page.TotalResults, ch.o.records)
		return true, nil
	}
	for i, got := range page.Results {
		for k, want := range sim.Customer(a.Index, i) {
			if got[k] != want {
				fail("cache of company %s: record %d field %s is %v, the source has %v", a.CompanyID, i, k, got[k], want)
				return true, nil
			}
		}
	}
	return true, nil
}
