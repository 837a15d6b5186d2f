package fleet

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// hours keeps the datasets first seen in the last day with their hour and
// status now, and the counts they add up to, moved with each step: a call
// reads the counts, not the datasets. A dataset is kept in a few bytes (its
// id as a key, names as indexes into tables), as a coordinator holds every
// dataset of the last day of its whole fleet.
type hours struct {
	mu       sync.Mutex
	ds       map[idKey]entry          // by dataset id
	perHour  map[int32]int            // datasets first seen in each hour (hours since 1970)
	agentOf  map[idKey]uint32         // connection id -> agent (names)
	names    names                    // agent ids and data types, by index
	statuses map[dataset.Status]int   // datasets by status now
	types    map[dataset.DataType]int // datasets in an error status, by type
	agents   map[string]int           // datasets in an error status, by agent
}

// entry is a dataset of the last day: agent and dataType index names
// (0: none), status indexes dataset.Statuses.
type entry struct {
	hour     int32
	agent    uint32
	dataType uint32
	status   uint8
}

// idKey is an id as a map key: a UUID in its canonical form as its 16
// bytes, any other id as it is.
type idKey struct {
	uuid  [16]byte
	other string
}

// keyOf is id's key, for a lookup: kept, it is to be cloned (keep).
func keyOf(id string) idKey {
	if u, err := uuid.Parse(id); err == nil && len(id) == 36 && strings.ToLower(id) == id {
		return idKey{uuid: u}
	}
	return idKey{other: id}
}

// keep is k holding its own copy of an id that is not a UUID, not a part
// of a larger decoded record.
func (k idKey) keep() idKey {
	k.other = strings.Clone(k.other)
	return k
}

// names numbers strings from 1 (0 is the empty string), each kept once.
type names struct {
	index map[string]uint32
	all   []string
}

func (n *names) of(s string) uint32 {
	if s == "" {
		return 0
	}
	if i, ok := n.index[s]; ok {
		return i
	}
	if n.index == nil {
		n.index, n.all = map[string]uint32{}, []string{""}
	}
	i := uint32(len(n.all))
	n.index[s] = i
	n.all = append(n.all, strings.Clone(s))
	return i
}

func (n *names) name(i uint32) string {
	if i == 0 {
		return ""
	}
	return n.all[i]
}

// statusIndex is s's index in dataset.Statuses; an unknown status is
// stored as the first (the feed and the store hold only valid ones).
func statusIndex(s dataset.Status) uint8 {
	return uint8(max(slices.Index(dataset.Statuses, s), 0))
}

func newHours() *hours {
	return &hours{ds: map[idKey]entry{}, perHour: map[int32]int{}, agentOf: map[idKey]uint32{},
		statuses: map[dataset.Status]int{}, types: map[dataset.DataType]int{}, agents: map[string]int{}}
}

// hourOf is t's hour, in hours since 1970.
func hourOf(t time.Time) int32 { return int32(t.Unix() / 3600) }

// add applies a step seen at at to the dataset id of the data type, on the
// connection conn: a dataset not seen before is counted from at's hour; a
// step back from a terminal status (a change delivered late) is ignored.
func (h *hours) add(at time.Time, id, conn string, dataType dataset.DataType, to dataset.Status) {
	k := keyOf(id)
	e, ok := h.ds[k]
	if !ok {
		k = k.keep()
		e = entry{hour: hourOf(at), dataType: h.names.of(string(dataType)), agent: h.agentOf[keyOf(conn)]}
		h.perHour[e.hour]++
	} else if dataset.Statuses[e.status].Terminal() && !to.Terminal() {
		return
	} else {
		h.count(e, -1)
	}
	e.status = statusIndex(to)
	h.ds[k] = e
	h.count(e, 1)
}

// count adds e to the counts n times (1 or -1).
func (h *hours) count(e entry, n int) {
	status := dataset.Statuses[e.status]
	h.statuses[status] += n
	if !status.IsError() {
		return
	}
	t := dataset.DataType(h.names.name(e.dataType))
	h.types[t] += n
	if h.types[t] == 0 {
		delete(h.types, t)
	}
	if e.agent != 0 {
		a := h.names.name(e.agent)
		h.agents[a] += n
		if h.agents[a] == 0 {
			delete(h.agents, a)
		}
	}
}

// sum forgets the datasets first seen before the last day at now and
// returns the counts.
func (h *hours) sum(now time.Time) (map[dataset.Status]int, []rules.Count, []rules.Count) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := hourOf(now.Add(-Day))
	for hour := range h.perHour {
		if hour >= first {
			continue
		}
		// An hour has left the day: one pass forgets its datasets and
		// any other hour's that left with it.
		for k, e := range h.ds {
			if e.hour < first {
				h.count(e, -1)
				delete(h.ds, k)
			}
		}
		maps.DeleteFunc(h.perHour, func(hour int32, _ int) bool { return hour < first })
		break
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
			delete(h.agentOf, keyOf(cc.ID))
		} else {
			h.agentOf[keyOf(cc.ID).keep()] = h.names.of(cc.AgentID)
		}
	}
	// The fleet's clock, not the feed's: the timelines' steps are on it.
	at := f.now()
	for _, d := range c.Datasets {
		h.add(at, d.ID, d.ConnectionID, d.DataType, d.To)
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
				fresh.agentOf[keyOf(c.ID).keep()] = fresh.names.of(c.AgentID)
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
				fresh.add(d.Requested, d.ID, d.ConnectionID, d.DataType, d.Status)
			}
		}
	}
	f.hours.mu.Lock()
	defer f.hours.mu.Unlock()
	h := f.hours
	h.ds, h.perHour, h.agentOf, h.names, h.statuses, h.types, h.agents = fresh.ds, fresh.perHour, fresh.agentOf, fresh.names, fresh.statuses, fresh.types, fresh.agents
	return nil
}
