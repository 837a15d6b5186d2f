package store

import "time"

// Updates of the agent fleet. The leader's rollout asks an agent for an
// update by storing an UpdateAsk on it: the change feed carries the ask
// (Change.Updates) to the replica holding the agent's channel, which sends
// the agent protocol.TypeUpdate, and an agent that connects is sent the
// ask it has not taken on yet. What the agent reports of the update is
// kept on it as its AgentUpdate, and each report is an agent event.

// UpdateState is where an agent's last update stands.
type UpdateState string

// The update states, as the agent resource's update.status says them.
const (
	// UpdateUpdating: the agent took the update on.
	UpdateUpdating UpdateState = "Updating"
	// UpdateUpdated: the new version runs and reported healthy.
	UpdateUpdated UpdateState = "Updated"
	// UpdateFailed: the update stopped before the swap, or the agent
	// refused it; the old version runs on.
	UpdateFailed UpdateState = "Failed"
	// UpdateRolledBack: the new version did not become healthy and the
	// old one was put back.
	UpdateRolledBack UpdateState = "RolledBack"
)

// AgentUpdate is an agent's last update, as it reported it.
type AgentUpdate struct {
	// Version is the version it was updating to; From the one it ran.
	Version string      `json:"version"`
	From    string      `json:"from,omitempty"`
	Status  UpdateState `json:"status"`
	// Step is where it failed or was rolled back (a protocol.Step* name).
	Step   string `json:"step,omitempty"`
	Reason string `json:"reason,omitempty"`
	// At is when the coordinator received the report.
	At time.Time `json:"at"`
}

// UpdateAsk is an update asked of an agent: the replica holding its
// channel sends it protocol.TypeUpdate for Version. At is when it was
// asked; asking again (a later At) sends it again.
type UpdateAsk struct {
	Version string    `json:"version"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// UpdateChange is an update asked of an agent (its UpdateAsk set or asked
// again).
type UpdateChange struct {
	AgentID, Version, Reason string
}

// RecordUpdateAsk notes an update asked of the agent, when the write from
// old to a set or renewed its UpdateAsk.
func (ch *Change) RecordUpdateAsk(old, a Agent) {
	if a.UpdateAsk == nil || (old.UpdateAsk != nil && *old.UpdateAsk == *a.UpdateAsk) {
		return
	}
	ch.Updates = append(ch.Updates, UpdateChange{AgentID: a.ID, Version: a.UpdateAsk.Version, Reason: a.UpdateAsk.Reason})
}

// RolloutStatus is where a rollout stands.
type RolloutStatus string

// The rollout statuses.
const (
	// RolloutRunning: updates are being asked of the agents.
	RolloutRunning RolloutStatus = "Running"
	// RolloutPaused: no new update is asked until it is resumed; those
	// under way go on.
	RolloutPaused RolloutStatus = "Paused"
	// RolloutHalted: stopped for good (by the client, or by a failure
	// with HaltOnFailure); no new update is asked.
	RolloutHalted RolloutStatus = "Halted"
	// RolloutComplete: every agent of the rollout updated or failed.
	RolloutComplete RolloutStatus = "Complete"
)

// Active reports whether a rollout in status s may still ask updates
// (Running or Paused): one such rollout exists at a time.
func (s RolloutStatus) Active() bool { return s == RolloutRunning || s == RolloutPaused }

// MemberStatus is where one agent of a rollout stands.
type MemberStatus string

// The statuses of an agent in a rollout.
const (
	MemberPending  MemberStatus = "Pending"
	MemberUpdating MemberStatus = "Updating"
	MemberUpdated  MemberStatus = "Updated"
	MemberFailed   MemberStatus = "Failed"
)

// Rollout is the staged update of the fleet to one release.
type Rollout struct {
	Version       string        `json:"version"`
	Status        RolloutStatus `json:"status"`
	CanaryCount   int           `json:"canaryCount"`
	MaxInFlight   int           `json:"maxInFlight"`
	HaltOnFailure bool          `json:"haltOnFailure"`
	Created       time.Time     `json:"created"`
	// HaltReason says why a Halted rollout stopped.
	HaltReason string `json:"haltReason,omitempty"`
	// Members are the agents it updates, canaries first.
	Members []RolloutMember `json:"members"`
}

// RolloutMember is one agent of a rollout.
type RolloutMember struct {
	AgentID string       `json:"agentId"`
	Canary  bool         `json:"canary,omitempty"`
	Status  MemberStatus `json:"status"`
	Reason  string       `json:"reason,omitempty"`
	// Asked is when the update was last asked of it; zero while Pending.
	Asked time.Time `json:"asked,omitzero"`
}
