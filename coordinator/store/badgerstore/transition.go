package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// This file holds the dataset rules every Store implementation applies the
// same way: how a transition changes a dataset and its timeline, how a
// report is judged, what a lost lease does. They work on a Dataset in
// memory; the implementation loads and stores it in one transaction.

// inFlight reports whether a dataset in s is held by an agent's lease.
func inFlight(s dataset.Status) bool {
	return s == dataset.Fetching || s == dataset.Mapping
}

// stages are the non-terminal statuses in the order a dataset goes through.
var stages = []dataset.Status{
	dataset.Queued, dataset.Fetching, dataset.Mapping, dataset.Validating, dataset.Processing,
}

// stageCeiling is the highest progress a report can raise a dataset to
// within s: one below the floor of the next stage, 99 in the last.
func stageCeiling(s dataset.Status) int {
	for i, st := range stages[:len(stages)-1] {
		if st == s {
			return store.StageProgress(stages[i+1]) - 1
		}
	}
	return 99
}

// advance moves d to the status to, made by mover m, if the state machine
// allows it; ErrTransition otherwise.
func advance(d *store.Dataset, m dataset.Mover, to dataset.Status, at time.Time, actor, msg string) error {
	if !dataset.CanMove(m, d.Status, to) {
		return fmt.Errorf("dataset %s: %s to %s by %s: %w", d.ID, d.Status, to, moverName(m), store.ErrTransition)
	}
	record(d, to, at, actor, msg)
	return nil
}

func moverName(m dataset.Mover) string {
	if m == dataset.Agent {
		return "agent"
	}
	return store.ActorCoordinator
}

// record applies a transition already checked: status, progress, end time,
// error message, lease, and the timeline entry with the dataset's attempt.
func record(d *store.Dataset, to dataset.Status, at time.Time, actor, msg string) {
	d.Timeline = append(d.Timeline, store.Transition{
		At: at, From: d.Status, To: to, Actor: actor, Attempt: d.Attempt, Message: msg,
	})
	d.Status = to
	d.Progress = store.StageProgress(to)
	if to.Terminal() {
		d.Completed = at
	}
	if to.IsError() {
		d.ErrorMessage = msg
	}
	if !inFlight(to) {
		d.LeaseID, d.LeaseAgent, d.LeaseExpires = "", "", time.Time{}
	}
}

// newDataset is the dataset a queue request creates, in Queued with its
// first timeline entry, attempt 1.
func newDataset(q store.QueueRequest) store.Dataset {
	return store.Dataset{
		ID: q.ID, CompanyID: q.CompanyID, ConnectionID: q.ConnectionID,
		DataType: q.DataType, Status: dataset.Queued, Requested: q.Now,
		SyncOrder: q.SyncOrder, Attempt: 1,
		Timeline: []store.Transition{{
			At: q.Now, To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 1, Message: q.Message,
		}},
	}
}

// claim gives a Queued dataset to an agent under a new lease.
func claim(d *store.Dataset, c store.ClaimRequest) error {
	if err := advance(d, dataset.Coordinator, dataset.Fetching, c.Now, c.AgentID, "claimed"); err != nil {
		return err
	}
	d.LeaseID, d.LeaseAgent, d.LeaseExpires = c.LeaseID, c.AgentID, c.Now.Add(c.TTL)
	return nil
}

// revokeLease takes the lease away from an in-flight dataset: a report under
// it is stale, and it has expired for any ExpireLeases call.
func revokeLease(d *store.Dataset) {
	d.LeaseID, d.LeaseAgent, d.LeaseExpires = "", "", time.Time{}
}

// expire ends a lost lease at now: back to Queued with the attempt count
// raised, or FetchError when that was attempt MaxAttempts.
func expire(d *store.Dataset, now time.Time) error {
	if d.Attempt >= store.MaxAttempts {
		return advance(d, dataset.Coordinator, dataset.FetchError, now, store.ActorCoordinator, store.MsgAgentOffline)
	}
	if !dataset.CanMove(dataset.Coordinator, d.Status, dataset.Queued) {
		return fmt.Errorf("dataset %s: %s to %s: %w", d.ID, d.Status, dataset.Queued, store.ErrTransition)
	}
	msg := "lease revoked"
	if d.LeaseID != "" {
		msg = "lease of agent " + d.LeaseAgent + " expired"
	}
	d.Attempt++
	record(d, dataset.Queued, now, store.ActorCoordinator, msg)
	return nil
}

// applyReport judges a report against d and applies it. It returns whether
// d changed; a duplicate of a report already applied changes nothing.
func applyReport(d *store.Dataset, r store.Report) (bool, error) {
	if r.To == d.Status {
		return sameStatus(d, r)
	}
	if d.Status.Terminal() {
		return false, fmt.Errorf("dataset %s is %s, not %s: %w", d.ID, d.Status, r.To, store.ErrTransition)
	}
	mover, actor := dataset.Coordinator, r.Actor
	if r.LeaseID != "" {
		if !holds(d, r) {
			return false, fmt.Errorf("dataset %s: %w", d.ID, store.ErrStaleLease)
		}
		mover = dataset.Agent
	} else if actor == "" {
		actor = store.ActorCoordinator
	}
	if r.To == dataset.Queued || r.To == dataset.Fetching {
		// Only a lease expiry requeues, and only a claim starts a fetch.
		return false, fmt.Errorf("dataset %s: %s to %s by report: %w", d.ID, d.Status, r.To, store.ErrTransition)
	}
	if err := advance(d, mover, r.To, r.Now, actor, r.Message); err != nil {
		return false, err
	}
	for _, w := range r.Warnings {
		if len(d.Warnings) < store.MaxWarnings && !slices.Contains(d.Warnings, w) {
			d.Warnings = append(d.Warnings, w)
		}
	}
	return true, nil
}

// holds reports whether the agent's report r is under the lease holding d.
func holds(d *store.Dataset, r store.Report) bool {
	return d.LeaseID != "" && r.LeaseID == d.LeaseID && r.Actor == d.LeaseAgent
}

// sameStatus handles a report of the status d already has: a resent report
// succeeds without change, and may raise the progress within the stage.
func sameStatus(d *store.Dataset, r store.Report) (bool, error) {
	if d.Status.Terminal() {
		return false, nil // a resent final report
	}
	if r.LeaseID != "" && !holds(d, r) {
		return false, fmt.Errorf("dataset %s: %w", d.ID, store.ErrStaleLease)
	}
	if r.LeaseID == "" && d.LeaseID != "" {
		return false, fmt.Errorf("dataset %s is held by an agent's lease: %w", d.ID, store.ErrTransition)
	}
	p := min(r.Progress, stageCeiling(d.Status))
	if p <= d.Progress {
		return false, nil
	}
	d.Progress = p
	return true, nil
}

// checkReport refuses a report that is not well formed.
func checkReport(r store.Report) error {
	if err := lookupIDs("company", r.CompanyID, "dataset", r.DatasetID); err != nil {
		return err
	}
	if r.LeaseID != "" {
		if err := checkID("agent", r.Actor); err != nil {
			return fmt.Errorf("report under a lease: %w", err)
		}
	}
	if !r.To.Valid() {
		return fmt.Errorf("report: unknown status %q", r.To)
	}
	if r.Progress < 0 || r.Progress > 99 {
		return fmt.Errorf("report: progress %d is outside 0-99", r.Progress)
	}
	if r.Now.IsZero() {
		return fmt.Errorf("report: time is zero")
	}
	if len(r.Warnings) > store.MaxWarnings {
		return fmt.Errorf("report: %d warnings is over %d", len(r.Warnings), store.MaxWarnings)
	}
	for _, w := range r.Warnings {
		if w.RuleID == "" || len(w.RuleID) > 64 || w.Message == "" || len(w.Message) > 1024 {
			return fmt.Errorf("report: a warning needs a ruleId of 1-64 bytes and a message of 1-1024")
		}
	}
	return nil
}
