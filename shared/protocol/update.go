package protocol

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/ferry-sync/ferry/shared/release"
)

// Updates: the coordinator tells an agent which release to run; the agent
// updates itself and reports each step.
//
// The coordinator sends TypeUpdate only to an agent whose hello listed
// FeatureUpdate. The agent answers ack when it takes the update on, or
// error: CodeBusy while it cannot begin yet (a dataset in hand, a bound
// book locked by the accounting program; the coordinator asks again
// later), CodeUpdateRefused when it never will (a downgrade, a release it
// cannot verify; the message says why). An update for the version it is
// already updating to is acknowledged again and changes nothing. Once it
// has taken an update on, the agent claims no new work until the update
// has ended.
//
// Every step then is a TypeUpdateStatus from the agent, which the
// coordinator acknowledges, records as an agent event of the same name and
// sends as a webhook. The agent keeps each status on disk until it is
// acknowledged, so a status made while the channel is down (the restart
// itself, a rollback) is sent after the next welcome; the coordinator takes
// a status it has already recorded again without a second event.
const (
	// TypeUpdate (coordinator): run Update.Version.
	TypeUpdate Type = "update"
	// TypeUpdateStatus (agent): a step of an update.
	TypeUpdateStatus Type = "updateStatus"
)

// FeatureUpdate is listed in the hello of an agent that updates itself.
const FeatureUpdate = "update"

// CodeUpdateRefused refuses an update the agent will never run; the
// error's message says why.
const CodeUpdateRefused Code = "update_refused"

// The events of an update, each an UpdateStatus.Event and an agent event
// (and webhook event type) of the same name.
const (
	// UpdateStarted: the agent took the update on (sent with the ack).
	UpdateStarted = "UpdateStarted"
	// UpdateSucceeded: the new version runs, connected, and passed its
	// health check; sent by the new version.
	UpdateSucceeded = "UpdateSucceeded"
	// UpdateFailed: the update stopped before the swap (download,
	// verification, unpacking, self-test); the old version runs on.
	UpdateFailed = "UpdateFailed"
	// UpdateRolledBack: the new version was swapped in but did not become
	// healthy within the deadline; the old one was put back and runs, and
	// says so after it reconnects.
	UpdateRolledBack = "UpdateRolledBack"
)

// The steps of an update an UpdateStatus names.
const (
	StepDownload = "download"
	StepVerify   = "verify"
	StepUnpack   = "unpack"
	StepSelfTest = "selftest"
	StepSwap     = "swap"
	StepRestart  = "restart"
	StepHealth   = "health"
)

// Update tells the agent which release to run.
type Update struct {
	// Version is the release (SemVer), whose files the agent downloads
	// from ReleasePath(Version, name): release.json, release.json.sig and
	// its platform's archive.
	Version string `json:"version"`
	// HealthMillis is how long the new version has, from its start, to
	// connect and report healthy before it is rolled back.
	HealthMillis int64 `json:"healthMillis"`
	// Reason says why: "rollout" or "minimumVersion".
	Reason string `json:"reason,omitempty"`
}

// UpdateStatus is one step of an update.
type UpdateStatus struct {
	// Event is one of the Update* events.
	Event string `json:"event"`
	// From is the version that ran when the update began; To the version
	// it is updating to.
	From string `json:"from"`
	To   string `json:"to"`
	// Step is where a failure or rollback happened (a Step* name).
	Step string `json:"step,omitempty"`
	// Reason says, for a person, why it failed or was rolled back; for a
	// verification failure it begins with release.Reason's word
	// ("tampered", "unknownKey", "revoked", "downgrade", …).
	Reason string `json:"reason,omitempty"`
}

// Limits of update messages.
const (
	// MaxUpdateHealth bounds Update.HealthMillis.
	MaxUpdateHealth = 60 * 60 * 1000
	// maxUpdateReason bounds UpdateStatus.Reason and Update.Reason.
	maxUpdateReason = 1024
)

// ReleasePath is where an agent downloads a release's file.
func ReleasePath(version, name string) string {
	return ReleasesPath + url.PathEscape(version) + "/" + url.PathEscape(name)
}

var (
	updateEvents = []string{UpdateStarted, UpdateSucceeded, UpdateFailed, UpdateRolledBack}
	updateSteps  = []string{"", StepDownload, StepVerify, StepUnpack, StepSelfTest, StepSwap, StepRestart, StepHealth}
)

func (u *Update) validate() error {
	if err := release.CheckVersion(u.Version); err != nil {
		return fmt.Errorf("update: version: %v", err)
	}
	if u.HealthMillis < 1000 || u.HealthMillis > MaxUpdateHealth {
		return fmt.Errorf("update: healthMillis must be 1000 to %d", MaxUpdateHealth)
	}
	if len(u.Reason) > maxUpdateReason {
		return fmt.Errorf("update: reason is over %d bytes", maxUpdateReason)
	}
	return nil
}

func (s *UpdateStatus) validate() error {
	if !slices.Contains(updateEvents, s.Event) {
		return fmt.Errorf("updateStatus: event %q is not one of %v", truncate(s.Event, 32), updateEvents)
	}
	if !slices.Contains(updateSteps, s.Step) {
		return fmt.Errorf("updateStatus: step %q is not one of %v", truncate(s.Step, 32), updateSteps[1:])
	}
	if err := release.CheckVersion(s.To); err != nil {
		return fmt.Errorf("updateStatus: to: %v", err)
	}
	if err := checkAbout("", "", s.From); err != nil {
		return fmt.Errorf("updateStatus: from: %v", err)
	}
	if len(s.Reason) > maxUpdateReason {
		return fmt.Errorf("updateStatus: reason is over %d bytes", maxUpdateReason)
	}
	return nil
}

// validateUpdate checks the payload of the update messages.
func (m *Message) validateUpdate() error {
	if m.Type == TypeUpdate {
		return need(m.Update != nil, m.Type, func() error { return m.Update.validate() })
	}
	return need(m.UpdateStatus != nil, m.Type, func() error { return m.UpdateStatus.validate() })
}
