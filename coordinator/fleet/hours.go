package fleet

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// hours counts the datasets' steps of the last day by the hour, with the
// agent bound to each connection to name the agents with errors.
type hours struct {
	mu      sync.Mutex
	buckets map[time.Time]*bucket // by the hour's start
	agentOf map[string]string     // connection id -> agent id
}

// bucket is one hour's steps; seen makes a step delivered twice by the
// feed count once.
type bucket struct {
	seen     map[string]bool // "dataset/status"
	statuses map[dataset.Status]int
	types    map[string]int
	agents   map[string]int
}

func newHours() *hours {
	return &hours{buckets: map[time.Time]*bucket{}, agentOf: map[string]string{}}
}

// add counts a step at at, once.
func (h *hours) add(at time.Time, s rules.FleetDatasetStep) {
	hour := at.UTC().Truncate(time.Hour)
	b := h.buckets[hour]
	if b == nil {
		b = &bucket{seen: map[string]bool{}, statuses: map[dataset.Status]int{}, types: map[string]int{}, agents: map[string]int{}}
		h.buckets[hour] = b
	}
	k := s.ID + "/" + string(s.To)
	if b.seen[k] {
		return
	}
	b.seen[k] = true
	b.statuses[s.To]++
	if s.CountsErrors() {
		b.types[string(s.DataType)]++
		if s.Agent != "" {
			b.agents[s.Agent]++
		}
	}
}

// sum adds up the buckets of the last day at now and forgets older ones.
func (h *hours) sum(now time.Time) (map[dataset.Status]int, []rules.Count, []rules.Count) {
	h.mu.Lock()
	defer h.mu.Unlock()
	statuses := map[dataset.Status]int{}
	for _, s := range dataset.Statuses {
		statuses[s] = 0
	}
	types, agents := map[string]int{}, map[string]int{}
	first := now.UTC().Add(-Day).Truncate(time.Hour)
	for hour, b := range h.buckets {
		if hour.Before(first) {
			delete(h.buckets, hour)
			continue
		}
		for k, n := range b.statuses {
			statuses[k] += n
		}
		for k, n := range b.types {
			types[k] += n
		}
		for k, n := range b.agents {
			agents[k] += n
		}
	}
	return statuses, rules.TopCounts(types), rules.TopCounts(agents)
}

// apply counts a change's dataset steps and notes its connections'
// agents.
func (f *Fleet) apply(c store.Change) {
	h := f.hours
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cc := range c.Connections {
		if cc.To == "" || cc.AgentID == "" {
			delete(h.agentOf, cc.ID)
		} else {
			h.agentOf[cc.ID] = cc.AgentID
		}
	}
	// The fleet's clock, not the feed's: the timelines' steps are on it.
	at := f.now()
	for _, d := range c.Datasets {
		h.add(at, rules.FleetDatasetStep{ID: d.ID, DataType: d.DataType, To: d.To, Agent: h.agentOf[d.ConnectionID]})
	}
}

// backfill reads the last day's steps from the datasets' timelines and
// the connections' agents: the counts start over from the store.
func (f *Fleet) backfill(ctx context.Context) error {
	companies, err := f.st.Companies(ctx)
	if err != nil {
		return err
	}
	since := f.now().Add(-Day)
	fresh := newHours()
	for _, co := range companies {
		conns, err := f.st.Connections(ctx, co.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return err
		}
		for _, c := range conns {
			if c.AgentID != "" {
				fresh.agentOf[c.ID] = c.AgentID
			}
		}
		ds, err := f.st.Datasets(ctx, co.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		for _, d := range ds {
			for _, t := range d.Timeline {
				if !t.At.Before(since) {
					fresh.add(t.At, rules.FleetDatasetStep{ID: d.ID, DataType: d.DataType, To: t.To, Agent: fresh.agentOf[d.ConnectionID]})
				}
			}
		}
	}
	f.hours.mu.Lock()
	defer f.hours.mu.Unlock()
	f.hours.buckets, f.hours.agentOf = fresh.buckets, fresh.agentOf
	return nil
}
