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

// hours keeps the datasets first seen in the last day (by the hour) with
// their status now, and the counts they add up to, moved with each step:
// a call reads the counts, not the datasets.
type hours struct {
	mu       sync.Mutex
	ds       map[string]*entry        // by dataset id
	byHour   map[time.Time][]string   // the ids first seen in each hour
	agentOf  map[string]string        // connection id -> agent id
	statuses map[dataset.Status]int   // datasets by status now
	types    map[dataset.DataType]int // datasets in an error status, by type
	agents   map[string]int           // datasets in an error status, by agent
}

// entry is a dataset of the last day.
type entry struct {
	dataType dataset.DataType
	status   dataset.Status
	agent    string
}

func newHours() *hours {
	return &hours{ds: map[string]*entry{}, byHour: map[time.Time][]string{}, agentOf: map[string]string{},
		statuses: map[dataset.Status]int{}, types: map[dataset.DataType]int{}, agents: map[string]int{}}
}

// add applies a step seen at at: a dataset not seen before is counted
// from at's hour; a step back from a terminal status (a change delivered
// late) is ignored.
func (h *hours) add(at time.Time, s rules.FleetDatasetStep) {
	e := h.ds[s.ID]
	if e == nil {
		e = &entry{dataType: s.DataType, agent: s.Agent}
		h.ds[s.ID] = e
		hour := at.UTC().Truncate(time.Hour)
		h.byHour[hour] = append(h.byHour[hour], s.ID)
	} else if e.status.Terminal() && !s.To.Terminal() {
		return
	} else {
		h.count(e, -1)
	}
	e.status = s.To
	h.count(e, 1)
}

// count adds e to the counts n times (1 or -1).
func (h *hours) count(e *entry, n int) {
	h.statuses[e.status] += n
	if !e.status.IsError() {
		return
	}
	h.types[e.dataType] += n
	if h.types[e.dataType] == 0 {
		delete(h.types, e.dataType)
	}
	if e.agent != "" {
		h.agents[e.agent] += n
		if h.agents[e.agent] == 0 {
			delete(h.agents, e.agent)
		}
	}
}

// sum forgets the datasets first seen before the last day at now and
// returns the counts.
func (h *hours) sum(now time.Time) (map[dataset.Status]int, []rules.Count, []rules.Count) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := now.UTC().Add(-Day).Truncate(time.Hour)
	for hour, ids := range h.byHour {
		if !hour.Before(first) {
			continue
		}
		for _, id := range ids {
			h.count(h.ds[id], -1)
			delete(h.ds, id)
		}
		delete(h.byHour, hour)
	}
	statuses := map[dataset.Status]int{}
	for _, s := range dataset.Statuses {
		statuses[s] = h.statuses[s]
	}
	types := make(map[string]int, len(h.types))
	for t, n := range h.types {
		types[string(t)] = n
	}
	return statuses, rules.TopCounts(types), rules.TopCounts(h.agents)
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

// backfill reads the datasets requested in the last day, with their
// status now, and the connections' agents: the counts start over from
// the store.
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
			if !d.Requested.Before(since) {
				fresh.add(d.Requested, rules.FleetDatasetStep{ID: d.ID, DataType: d.DataType, To: d.Status, Agent: fresh.agentOf[d.ConnectionID]})
			}
		}
	}
	f.hours.mu.Lock()
	defer f.hours.mu.Unlock()
	h := f.hours
	h.ds, h.byHour, h.agentOf, h.statuses, h.types, h.agents = fresh.ds, fresh.byHour, fresh.agentOf, fresh.statuses, fresh.types, fresh.agents
	return nil
}
