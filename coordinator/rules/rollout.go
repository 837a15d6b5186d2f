package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/release"
)

// The rollout of an agent release: the leader's engine (coordinator/rollout)
// reads the rollout, the agents and which of them are online, and calls
// StepRollout, which says what the rollout becomes and which agents to
// ask for the update; the engine stores both.

// Bounds of a rollout's request.
const (
	// MaxCanaries bounds CanaryCount.
	MaxCanaries = 100
	// MaxInFlight bounds MaxInFlight.
	MaxInFlight = 1000
)

// CheckRollout refuses a rollout that is not well formed.
func CheckRollout(r store.Rollout) error {
	if err := release.CheckVersion(r.Version); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if r.CanaryCount < 0 || r.CanaryCount > MaxCanaries {
		return fmt.Errorf("rollout %s: canaryCount must be 0 to %d", r.Version, MaxCanaries)
	}
	if r.MaxInFlight < 1 || r.MaxInFlight > MaxInFlight {
		return fmt.Errorf("rollout %s: maxInFlight must be 1 to %d", r.Version, MaxInFlight)
	}
	switch r.Status {
	case store.RolloutRunning, store.RolloutPaused, store.RolloutHalted, store.RolloutComplete:
	default:
		return fmt.Errorf("rollout %s: unknown status %q", r.Version, r.Status)
	}
	return nil
}

// Eligible says whether a rollout to version target updates agent a: its
// credential is valid, it is not pinned, its version is older than target
// and its hello said it updates itself (features).
func Eligible(a store.Agent, target string, features func(store.Agent) bool) bool {
	return a.Revoked.IsZero() && a.UpdatePolicy != store.UpdatePinned && Older(a.Version, target) && features(a)
}

// NewRollout is the rollout of version asked at now: every eligible agent
// of agents is a member, Pending; the first canaryCount of them, the
// online ones first (each in the order of agents), are its canaries.
func NewRollout(version string, canaryCount, maxInFlight int, haltOnFailure bool, agents []store.Agent,
	online map[string]bool, features func(store.Agent) bool, now time.Time) store.Rollout {
	r := store.Rollout{Version: version, Status: store.RolloutRunning, CanaryCount: canaryCount, MaxInFlight: maxInFlight,
		HaltOnFailure: haltOnFailure, Created: now.UTC(), Members: []store.RolloutMember{}}
	var on, off []store.RolloutMember
	for _, a := range agents {
		if !Eligible(a, version, features) {
			continue
		}
		m := store.RolloutMember{AgentID: a.ID, Status: store.MemberPending}
		if online[a.ID] {
			on = append(on, m)
		} else {
			off = append(off, m)
		}
	}
	r.Members = append(on, off...)
	for i := range r.Members[:min(canaryCount, len(r.Members))] {
		r.Members[i].Canary = true
	}
	return r
}

// MemberState is what an agent's own record says of its update in
// rollout r: the status of member m, and the reason of a failure. A member
// never asked stays as it is unless the agent runs the target already. A
// member that took the update on is Updated when the agent says so: its
// new version's hello comes a moment before the agent's UpdateSucceeded,
// and the others are asked after the canaries' success, as their events
// show.
func MemberState(r store.Rollout, m store.RolloutMember, a store.Agent) (store.MemberStatus, string) {
	u := a.Update
	taken := !m.Asked.IsZero() && u != nil && u.Version == r.Version && !u.At.Before(m.Asked)
	if (!taken || u.Status != store.UpdateUpdating) && release.CheckVersion(a.Version) == nil && !Older(a.Version, r.Version) {
		return store.MemberUpdated, ""
	}
	if !taken {
		return m.Status, m.Reason
	}
	switch u.Status {
	case store.UpdateUpdated:
		return store.MemberUpdated, ""
	case store.UpdateFailed, store.UpdateRolledBack:
		reason := string(u.Status)
		if u.Step != "" {
			reason += " at " + u.Step
		}
		if u.Reason != "" {
			reason += ": " + u.Reason
		}
		return store.MemberFailed, reason
	}
	return store.MemberUpdating, ""
}

// Step is what one pass of the engine does to a rollout.
type Step struct {
	// Changed: the rollout changed and is to be stored.
	Changed bool
	// Ask are the agents to ask for the update now (again, for those
	// asked retry ago or earlier that have not taken it on: busy, or
	// offline since).
	Ask []string
	// Unask are the agents whose ask is to be withdrawn: asked, not
	// taken on, and the rollout paused or halted since.
	Unask []string
}

// Pace is how long a rollout waits on its agents.
type Pace struct {
	// Retry: a member asked that has not taken the update on, online
	// (busy), is asked again Retry after.
	Retry time.Duration
	// Deadline: a member asked that has not taken the update on and is
	// offline Deadline after is Pending again, its ask withdrawn, so that
	// its place in flight goes to another; it is asked again once online.
	// (A member that took the update on and then said nothing within the
	// deadline fails: the engine stores TimeOutUpdate on its agent.)
	Deadline time.Duration
}

// StepRollout moves rollout r on at now, knowing the agents (by id),
// which are online, and which update themselves (features): it takes
// each member's state from its agent; drops a Pending member no longer
// eligible (pinned, revoked); adds, while the rollout is Running or
// Paused, agents that became eligible, Pending; halts on a failure when
// HaltOnFailure; completes once no member is Pending or Updating; Paused
// or Halted, it withdraws the asks not taken on (those members are
// Pending again); Running, it asks the next online Pending members,
// canaries first and the rest only once no canary is Pending or Updating
// (with HaltOnFailure a failed canary has halted the rollout), so that at
// most MaxInFlight are Updating, and withdraws the asks not taken on by
// members offline since pace.Deadline.
func StepRollout(r *store.Rollout, agents map[string]store.Agent, online map[string]bool,
	features func(store.Agent) bool, now time.Time, pace Pace) Step {
	var st Step
	if r.Status == store.RolloutComplete {
		return st
	}
	old := slices.Clone(r.Members)
	members := r.Members[:0:0]
	for _, m := range r.Members {
		a, ok := agents[m.AgentID]
		if !ok {
			continue
		}
		m.Status, m.Reason = MemberState(*r, m, a)
		if m.Status == store.MemberPending && !Eligible(a, r.Version, features) {
			continue
		}
		members = append(members, m)
	}
	kept := len(members)
	if r.Status.Active() {
		for id, a := range agents {
			if Eligible(a, r.Version, features) && !slices.ContainsFunc(members, func(m store.RolloutMember) bool { return m.AgentID == id }) {
				members = append(members, store.RolloutMember{AgentID: id, Status: store.MemberPending})
			}
		}
	}
	slices.SortFunc(members[kept:], func(a, b store.RolloutMember) int { return strings.Compare(a.AgentID, b.AgentID) })
	r.Members = members
	st.Changed = !slices.Equal(old, r.Members)
	if r.Status == store.RolloutRunning && r.HaltOnFailure {
		if i := slices.IndexFunc(r.Members, func(m store.RolloutMember) bool { return m.Status == store.MemberFailed }); i >= 0 {
			r.Status = store.RolloutHalted
			r.HaltReason = fmt.Sprintf("agent %s failed: %s", r.Members[i].AgentID, r.Members[i].Reason)
			st.Changed = true
		}
	}
	if r.Status != store.RolloutHalted && !slices.ContainsFunc(r.Members, func(m store.RolloutMember) bool {
		return m.Status == store.MemberPending || m.Status == store.MemberUpdating
	}) {
		r.Status = store.RolloutComplete
		return Step{Changed: true}
	}
	if r.Status != store.RolloutRunning {
		st.Unask = unask(r, agents)
		st.Changed = st.Changed || len(st.Unask) > 0
		return st
	}
	st.Ask, st.Unask = askNext(r, agents, online, now, pace)
	st.Changed = st.Changed || len(st.Ask) > 0 || len(st.Unask) > 0
	return st
}

// takenOn says whether agent a reported anything of r's update since
// member m was asked.
func takenOn(r *store.Rollout, m store.RolloutMember, a store.Agent) bool {
	return a.Update != nil && a.Update.Version == r.Version && !a.Update.At.Before(m.Asked)
}

// unask makes the members asked but not taken on Pending again, and
// returns them.
func unask(r *store.Rollout, agents map[string]store.Agent) []string {
	var out []string
	for i, m := range r.Members {
		if m.Status == store.MemberUpdating && !takenOn(r, m, agents[m.AgentID]) {
			r.Members[i].Status = store.MemberPending
			out = append(out, m.AgentID)
		}
	}
	return out
}

// askNext marks the members to ask now Updating, and those whose ask is
// withdrawn Pending, and returns both.
func askNext(r *store.Rollout, agents map[string]store.Agent, online map[string]bool, now time.Time, pace Pace) (ask, unask []string) {
	inFlight := 0
	for i, m := range r.Members {
		if m.Status != store.MemberUpdating {
			continue
		}
		// Asked, not taken on: busy, or it went offline before it got it.
		if !takenOn(r, m, agents[m.AgentID]) {
			switch {
			case online[m.AgentID] && now.Sub(m.Asked) >= pace.Retry:
				r.Members[i].Asked = now.UTC()
				ask = append(ask, m.AgentID)
			case !online[m.AgentID] && now.Sub(m.Asked) >= pace.Deadline:
				r.Members[i].Status = store.MemberPending
				unask = append(unask, m.AgentID)
				continue
			}
		}
		inFlight++
	}
	canariesDone := !slices.ContainsFunc(r.Members, func(m store.RolloutMember) bool {
		return m.Canary && (m.Status == store.MemberPending || m.Status == store.MemberUpdating)
	})
	for i, m := range r.Members {
		if inFlight >= r.MaxInFlight {
			break
		}
		if m.Status != store.MemberPending || !online[m.AgentID] || (!m.Canary && !canariesDone) {
			continue
		}
		r.Members[i].Status, r.Members[i].Asked, r.Members[i].Reason = store.MemberUpdating, now.UTC(), ""
		inFlight++
		ask = append(ask, m.AgentID)
	}
	return ask, unask
}
