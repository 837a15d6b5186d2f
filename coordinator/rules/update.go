package rules

import (
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
// report a has already taken (the same event for the same version: the
// agent sends a report again until it is acknowledged).
func ReportUpdate(a *store.Agent, s protocol.UpdateStatus, now time.Time) bool {
	st := updateStates[s.Event]
	if u := a.Update; u != nil && u.Version == s.To && u.Status == st {
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
