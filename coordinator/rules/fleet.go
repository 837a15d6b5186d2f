package rules

import (
	"cmp"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// FleetAgents is what the fleet's agents add up to at one time.
type FleetAgents struct {
	// Agents counts the agents whose credential is valid; Revoked the
	// others, which count nowhere else.
	Agents, Revoked int
	// Online, Offline and OfflineOverDay (offline for more than 24
	// hours, by their last sign of life) split Agents.
	Online, Offline, OfflineOverDay int
	// Versions and OSes count Agents by version and by operating system,
	// most first.
	Versions, OSes []Count
	// LongestOffline are the offline agents away longest, at most
	// MaxFleetList.
	LongestOffline []store.Agent
}

// Count is a named count; Online, where given, is how many of them are
// online.
type Count struct {
	Name   string
	N      int
	Online int
}

// MaxFleetList is the length of the fleet summary's lists.
const MaxFleetList = 10

// SummarizeAgents counts agents at now, online saying which are.
func SummarizeAgents(agents []store.Agent, online func(id string) bool, now time.Time) FleetAgents {
	var f FleetAgents
	versions, oses := map[string]*Count{}, map[string]*Count{}
	var offline []store.Agent
	for _, a := range agents {
		if !a.Revoked.IsZero() {
			f.Revoked++
			continue
		}
		f.Agents++
		on := online(a.ID)
		add(versions, orUnknown(a.Version), on)
		add(oses, orUnknown(a.OS), on)
		if on {
			f.Online++
			continue
		}
		f.Offline++
		if now.Sub(lastSign(a)) > 24*time.Hour {
			f.OfflineOverDay++
		}
		offline = append(offline, a)
	}
	slices.SortFunc(offline, func(a, b store.Agent) int { return lastSign(a).Compare(lastSign(b)) })
	f.LongestOffline = offline[:min(len(offline), MaxFleetList)]
	f.Versions, f.OSes = sortedCounts(versions), sortedCounts(oses)
	return f
}

// lastSign is when an agent was last known online: its connection's last
// open or close, or its creation.
func lastSign(a store.Agent) time.Time {
	if a.LastSeen.IsZero() {
		return a.Created
	}
	return a.LastSeen
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func add(m map[string]*Count, name string, online bool) {
	c := m[name]
	if c == nil {
		c = &Count{Name: name}
		m[name] = c
	}
	c.N++
	if online {
		c.Online++
	}
}

// sortedCounts are m's counts, most first, then by name.
func sortedCounts(m map[string]*Count) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// TopCounts are the counts of m, most first, at most MaxFleetList.
func TopCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for name, n := range m {
		out = append(out, Count{Name: name, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Name, b.Name)) })
	return out[:min(len(out), MaxFleetList)]
}
