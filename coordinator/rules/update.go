package rules

import (
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/release"
)

// updateStates are the update state each update event leaves an agent in.
var updateStates = map[string]store.UpdateState{
	protocol.UpdateStarted:    store.UpdateUpdating,
	protocol.UpdateSucceeded:  store.UpdateUpdated,
	protocol.UpdateFailed:     store.UpdateFailed,
	protocol.UpdateRolledBack: store.UpdateRolledBack,
}

// ReportUpdate is what the agent's report s, received at now, does to a:
// its last update becomes s. It reports false, changing nothing, for a
// report a has already taken (the same event for the same version, step
// and reason: the agent sends a report again until it is acknowledged).
// A report that comes after the coordinator gave up waiting
// (TimeOutUpdate) replaces the timeout: the agent's word is the truth.
func ReportUpdate(a *store.Agent, s protocol.UpdateStatus, now time.Time) bool {
	st := updateStates[s.Event]
	if u := a.Update; u != nil && u.Version == s.To && u.Status == st && u.Step == s.Step && u.Reason == s.Reason {
		return false
	}
	a.Update = &store.AgentUpdate{Version: s.To, From: s.From, Status: st, Step: s.Step, Reason: s.Reason, At: now.UTC()}
	return true
}

// RefuseUpdate is what the agent's refusal of the update to version, with
// the refusal's message, received at now, does to a: its last update
// failed. It reports false for a refusal a has already taken.
func RefuseUpdate(a *store.Agent, version, message string, now time.Time) bool {
	return ReportUpdate(a, protocol.UpdateStatus{Event: protocol.UpdateFailed, From: a.Version, To: version,
		Reason: "refused: " + message}, now)
}

// UpdateExpired says whether a took an update on (its last report is
// Updating) and has said nothing of it since, deadline before now.
func UpdateExpired(a store.Agent, deadline time.Duration, now time.Time) bool {
	return a.Update != nil && a.Update.Status == store.UpdateUpdating && now.Sub(a.Update.At) >= deadline
}

// TimeOutUpdate is what the agent's silence does to a at now: an update
// it took on and said nothing of within deadline (UpdateExpired) failed,
// its reason saying so, as the agent resource and the UpdateFailed event
// show it. It reports false, changing nothing, otherwise. The agent may
// still speak later (it was offline with its report kept on disk): its
// report then replaces the timeout (ReportUpdate).
func TimeOutUpdate(a *store.Agent, deadline time.Duration, now time.Time) bool {
	if !UpdateExpired(*a, deadline, now) {
		return false
	}
	u := a.Update
	a.Update = &store.AgentUpdate{Version: u.Version, From: u.From, Status: store.UpdateFailed,
		Reason: fmt.Sprintf("timeout: no status from the agent within %s of its UpdateStarted", deadline), At: now.UTC()}
	return true
}

// UpdateOnConnect is the update to send an agent of version v that
// connects, as stored when it connected: the one asked of it, while it
// runs an older version and has reported nothing of that update since it
// was asked (it never received it, or asked again later). Nil for none.
func UpdateOnConnect(a store.Agent, v string) *store.UpdateAsk {
	ask := a.UpdateAsk
	if ask == nil || !Older(v, ask.Version) || Reported(a, *ask) {
		return nil
	}
	return ask
}

// Reported says whether a reported anything (or refused) of the update
// ask since it was asked.
func Reported(a store.Agent, ask store.UpdateAsk) bool {
	return a.Update != nil && a.Update.Version == ask.Version && !a.Update.At.Before(ask.At)
}

// Older says whether version v is older than target; a version that is
// not a release version (a development build) is older than none.
func Older(v, target string) bool {
	c, err := release.Compare(v, target)
	return err == nil && c < 0
}
