package rules

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// This file holds the dataset rules: how a transition changes a dataset and
// its timeline, how a report is judged, what a claim and a lost lease do.
// They work on a Dataset in memory; a backend loads it and stores the
// result in one transaction.

// InFlight reports whether a dataset in s is held by an agent's lease.
func InFlight(s dataset.Status) bool {
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
// allows it; store.ErrTransition otherwise.
func advance(d *store.Dataset, m dataset.Mover, to dataset.Status, at time.Time, actor, msg string) error {
	if !dataset.CanMove(m, d.Status, to) {
		return fmt.Errorf("dataset %s: %s to %s by %s: %w", d.ID, d.Status, to, moverName(m), store.ErrTransition)
	}
	record(d, to, at, actor, msg)
	return nil
}

// End moves d to status to as the coordinator, for the reason msg.
func End(d *store.Dataset, to dataset.Status, at time.Time, msg string) error {
	return advance(d, dataset.Coordinator, to, at, store.ActorCoordinator, msg)
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
	if !InFlight(to) {
		d.LeaseID, d.LeaseAgent, d.LeaseExpires = "", "", time.Time{}
	}
}

// CheckQueueRequest refuses a queue request that is not well formed and
// puts its time in UTC.
func CheckQueueRequest(q *store.QueueRequest) error {
	if err := CheckID("dataset", q.ID); err != nil {
		return err
	}
	if err := LookupIDs("company", q.CompanyID); err != nil {
		return err
	}
	if q.ConnectionID != "" {
		if err := LookupIDs("connection", q.ConnectionID); err != nil {
			return err
		}
	}
	if !q.DataType.Valid() {
		return fmt.Errorf("queue: unknown data type %q", q.DataType)
	}
	if q.Now.IsZero() {
		return errors.New("queue: time is zero")
	}
	if q.FirstLink != nil && (len(q.FirstLink) > len(dataset.DataTypes) || !slices.Contains(q.FirstLink, q.ID)) {
		return fmt.Errorf("queue: the first link's datasets must name %s, at most %d", q.ID, len(dataset.DataTypes))
	}
	for _, id := range q.FirstLink {
		if err := CheckID("dataset", id); err != nil {
			return err
		}
	}
	q.Now = q.Now.UTC()
	return nil
}

// newDataset is the dataset a queue request creates, in Queued with its
// first timeline entry, attempt 1.
func newDataset(q store.QueueRequest) store.Dataset {
	return store.Dataset{
		ID: q.ID, CompanyID: q.CompanyID, ConnectionID: q.ConnectionID,
		DataType: q.DataType, Status: dataset.Queued, Requested: q.Now,
		SyncOrder: q.SyncOrder, Attempt: 1, FirstLink: q.FirstLink,
		Timeline: []store.Transition{{
			At: q.Now, To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 1, Message: q.Message,
		}},
	}
}

// PickConnection is the connection a queue request that names none goes
// on: the only one of conns that is not Unlinked; store.ErrNoConnection
// when there is none, store.ErrAmbiguous when there are several.
func PickConnection(conns []store.Connection) (store.Connection, error) {
	var live []store.Connection
	for _, c := range conns {
		if c.Status != store.Unlinked {
			live = append(live, c)
		}
	}
	switch len(live) {
	case 0:
		return store.Connection{}, store.ErrNoConnection
	case 1:
		return live[0], nil
	}
	return store.Connection{}, store.ErrAmbiguous
}

// SyncOrder is the type's sync order in settings; a type they do not
// name goes after every one they do.
func SyncOrder(settings []store.SyncSetting, dt dataset.DataType) int {
	for _, s := range settings {
		if s.DataType == dt {
			return s.SyncOrder
		}
	}
	return len(settings)
}

// Queue is the dataset q creates on connection conn: store.ErrUnlinked on
// an Unlinked connection; on a Deauthorized one it is AuthError at once.
func Queue(q store.QueueRequest, conn store.Connection) (store.Dataset, error) {
	if conn.Status == store.Unlinked {
		return store.Dataset{}, fmt.Errorf("queue %s on connection %s: %w", q.DataType, conn.ID, store.ErrUnlinked)
	}
	d := newDataset(q)
	if conn.Status == store.Deauthorized {
		if err := End(&d, dataset.AuthError, q.Now, "connection is "+string(store.Deauthorized)); err != nil {
			return store.Dataset{}, err
		}
	}
	return d, nil
}

// CheckClaim refuses a claim that is not well formed and puts its time in
// UTC.
func CheckClaim(c *store.ClaimRequest) error {
	if err := LookupIDs("dataset", c.DatasetID); err != nil {
		return err
	}
	if err := CheckID("agent", c.AgentID); err != nil {
		return err
	}
	if err := CheckID("lease", c.LeaseID); err != nil {
		return err
	}
	if c.Now.IsZero() || c.TTL <= 0 {
		return fmt.Errorf("claim %s: needs a time and a positive TTL", c.DatasetID)
	}
	c.Now = c.Now.UTC()
	return nil
}

// Claim applies an agent's claim to d, a dataset of the connection conn
// (nil when missing). It is store.ErrNotFound unless the connection is
// bound to the claiming agent and past PendingAuth, store.ErrNotQueued
// unless d is Queued or its Linked connection is held at the claim's time
// by gate, its pause and the sync window in force (read in the claim's
// transaction: a claim offered before a pause or before the window closed
// is refused, whoever paused it). On a Linked connection d moves to
// Fetching under the claim's new lease; on a withdrawn one it ends in
// AuthError, and withdrawn is true: the claim fails, but d's change is to
// be stored.
func Claim(d *store.Dataset, conn *store.Connection, gate store.SyncGate, c store.ClaimRequest) (withdrawn bool, err error) {
	if conn == nil || conn.AgentID != c.AgentID || conn.Status == store.PendingAuth {
		return false, fmt.Errorf("dataset %s for agent %s: %w", d.ID, c.AgentID, store.ErrNotFound)
	}
	if d.Status != dataset.Queued {
		return false, fmt.Errorf("claim %s (%s): %w", d.ID, d.Status, store.ErrNotQueued)
	}
	if conn.Status != store.Linked {
		return true, End(d, dataset.AuthError, c.Now, "connection is "+string(conn.Status))
	}
	if HoldAt(gate, c.Now).Held() {
		return false, fmt.Errorf("claim %s: %w", d.ID, ErrHeld)
	}
	if err := advance(d, dataset.Coordinator, dataset.Fetching, c.Now, c.AgentID, "claimed"); err != nil {
		return false, err
	}
	d.LeaseID, d.LeaseAgent, d.LeaseExpires = c.LeaseID, c.AgentID, c.Now.Add(c.TTL)
	return false, nil
}

// ErrHeld is the claim of a dataset whose connection is paused or outside
// its sync window: store.ErrNotQueued, with the reason the agent is told.
var ErrHeld = fmt.Errorf("the connection is paused or outside its sync window; the dataset is offered again when it may run: %w", store.ErrNotQueued)

// EarlierLeases reports whether d, just claimed, may have had a lease
// before this one, and so pages staged under it: only a lost lease sends a
// dataset back to Queued (expire), and that raises its attempt. A first
// attempt's claim has none to delete, and its claimed answer need not wait
// for the reads that would look.
func EarlierLeases(d store.Dataset) bool { return d.Attempt > 1 }

// RenewLease extends the lease of agentID on d to until; it reports
// whether d changed. A dataset the agent holds no lease on, or whose lease
// runs past until already, is left as it is.
func RenewLease(d *store.Dataset, agentID string, until time.Time) bool {
	if !HeldBy(*d, agentID) || !until.After(d.LeaseExpires) {
		return false
	}
	d.LeaseExpires = until
	return true
}

// HeldBy reports whether agentID holds a lease on d.
func HeldBy(d store.Dataset, agentID string) bool {
	return d.LeaseID != "" && d.LeaseAgent == agentID
}

// RevokeLease takes the lease away from an in-flight dataset: a report under
// it is stale, and it has expired for any ExpireLeases call.
func RevokeLease(d *store.Dataset) {
	d.LeaseID, d.LeaseAgent, d.LeaseExpires = "", "", time.Time{}
}

// expire ends a lost lease at now: back to Queued with the attempt count
// raised, or FetchError when that was attempt store.MaxAttempts.
func expire(d *store.Dataset, now time.Time) error {
	if d.Attempt >= store.MaxAttempts {
		return End(d, dataset.FetchError, now, store.MsgAgentOffline)
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

// ExpireLease expires d's lease at now if d is still in flight and its
// lease is due, and reports whether it did: d goes back to Queued (see
// expire), and on to AuthError when its connection conn is missing (nil) or
// no longer Linked.
func ExpireLease(d *store.Dataset, conn *store.Connection, now time.Time) (bool, error) {
	if !InFlight(d.Status) || d.LeaseExpires.After(now) {
		return false, nil
	}
	if err := expire(d, now); err != nil {
		return false, err
	}
	if d.Status == dataset.Queued && (conn == nil || conn.Status != store.Linked) {
		if err := End(d, dataset.AuthError, now, "connection is no longer linked"); err != nil {
			return false, err
		}
	}
	return true, nil
}

// EndWork is what withdrawing its connection does to d, for the reason why:
// a Queued dataset ends in AuthError, an in-flight one loses its lease, and
// one past the agent is left to finish. It reports whether d changed.
func EndWork(d *store.Dataset, now time.Time, why string) (bool, error) {
	switch {
	case d.Status == dataset.Queued:
		return true, End(d, dataset.AuthError, now, why)
	case InFlight(d.Status):
		RevokeLease(d)
		return true, nil
	}
	return false, nil
}

// CheckReports checks the reports of a ReportAll: at most
// store.MaxReports, each as CheckReport does.
func CheckReports(rs []store.Report) error {
	if len(rs) > store.MaxReports {
		return fmt.Errorf("report: %d reports is over %d", len(rs), store.MaxReports)
	}
	for _, r := range rs {
		if err := CheckReport(r); err != nil {
			return fmt.Errorf("report %s: %w", r.DatasetID, err)
		}
	}
	return nil
}

// Skipped reports whether ReportAll skips a report Report refuses with
// err: its dataset moved on (store.ErrTransition, store.ErrStaleLease) or
// is gone (store.ErrNotFound) since the caller read it.
func Skipped(err error) bool {
	return errors.Is(err, store.ErrTransition) || errors.Is(err, store.ErrStaleLease) || errors.Is(err, store.ErrNotFound)
}

// CheckReport refuses a report that is not well formed.
func CheckReport(r store.Report) error {
	if err := LookupIDs("company", r.CompanyID, "dataset", r.DatasetID); err != nil {
		return err
	}
	if r.LeaseID != "" {
		if err := CheckID("agent", r.Actor); err != nil {
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

// ApplyReport judges a report against d and applies it. It returns whether
// d changed; a duplicate of a report already applied changes nothing.
func ApplyReport(d *store.Dataset, r store.Report) (changed bool, err error) {
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
	if r.To == dataset.FetchError && IsBookError(r.ErrorCode) {
		d.ErrorCode = r.ErrorCode // an unknown kind is left out
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

// leaseHeld reports whether lease is the live lease of agentID on d.
func leaseHeld(d store.Dataset, agentID, lease string) bool {
	return lease != "" && d.LeaseID == lease && d.LeaseAgent == agentID
}

// CommitUpload ends the upload of a Mapping dataset under the agent's
// lease: d moves to Validating as the coordinator and keeps the lease as
// its CommittedLease. It reports whether d changed: a commit sent again
// (d's CommittedLease is lease already) changes nothing and succeeds. It is
// store.ErrTransition when the lease holds d in another status,
// store.ErrStaleLease when it does not hold d.
func CommitUpload(d *store.Dataset, agentID, lease string, now time.Time) (bool, error) {
	switch {
	case leaseHeld(*d, agentID, lease) && d.Status == dataset.Mapping:
	case lease != "" && d.CommittedLease == lease:
		return false, nil
	case leaseHeld(*d, agentID, lease):
		return false, fmt.Errorf("commit dataset %s (%s): %w", d.ID, d.Status, store.ErrTransition)
	default:
		return false, fmt.Errorf("commit dataset %s: %w", d.ID, store.ErrStaleLease)
	}
	if err := End(d, dataset.Validating, now, "upload committed"); err != nil {
		return false, err
	}
	d.CommittedLease = lease
	return true, nil
}

// mayHavePages reports whether a dataset ever reached Mapping, the only
// status in which pages are staged. The many datasets that end without
// (NotSupported, AuthError, a fetch that failed) leave no pages to sweep.
func mayHavePages(d store.Dataset) bool {
	return slices.ContainsFunc(d.Timeline, func(t store.Transition) bool { return t.To == dataset.Mapping })
}

// PagesEnded reports whether d's change from old (nil for a new dataset)
// leaves staged pages of no more use: d ended, after reaching Mapping.
func PagesEnded(old, d *store.Dataset) bool {
	return old != nil && !old.Status.Terminal() && d.Status.Terminal() && mayHavePages(*d)
}

// Completes reports whether d's change from old (nil for a new dataset)
// makes it Complete: the newest success of its type, and its connection's
// last sync.
func Completes(old, d *store.Dataset) bool {
	return d.Status == dataset.Complete && (old == nil || old.Status != dataset.Complete)
}

// LastSync is the connection c's last sync once d has completed, and
// whether that moves it.
func LastSync(c store.Connection, d store.Dataset) (time.Time, bool) {
	if !d.Completed.After(c.LastSync) {
		return c.LastSync, false
	}
	return d.Completed, true
}

// CountChange is how the counts of datasets by status move when a dataset
// leaves status from (none when "") and enters status to (none when ""):
// nil when they do not.
func CountChange(from, to dataset.Status) map[dataset.Status]int {
	if from == to {
		return nil
	}
	delta := map[dataset.Status]int{}
	if from != "" {
		delta[from]--
	}
	if to != "" {
		delta[to]++
	}
	return delta
}

// AgentsDataset is store.ErrNotFound unless d's connection conn (nil when
// missing) is bound to agentID. An agent's upload, commit and report on a
// dataset of another agent (of another company, or of another connection)
// get the very answer a random id gets, whatever that dataset's state: its
// state is not the agent's to learn.
func AgentsDataset(d store.Dataset, conn *store.Connection, agentID string) error {
	if conn == nil || conn.AgentID == "" || conn.AgentID != agentID {
		return fmt.Errorf("dataset %s for agent %s: %w", d.ID, agentID, store.ErrNotFound)
	}
	return nil
}

// CanStage is nil when page p may be staged on d: store.ErrStaleLease
// unless p's lease holds d, store.ErrTransition unless d is Mapping.
func CanStage(d store.Dataset, p store.Page) error {
	if !leaseHeld(d, p.AgentID, p.LeaseID) {
		return fmt.Errorf("page %d of dataset %s: %w", p.N, d.ID, store.ErrStaleLease)
	}
	if d.Status != dataset.Mapping {
		return fmt.Errorf("page %d of dataset %s (%s): %w", p.N, d.ID, d.Status, store.ErrTransition)
	}
	return nil
}

// CheckFinish refuses a store.Finish that is not well formed and puts its
// times in UTC.
func CheckFinish(f *store.Finish) error {
	if err := LookupIDs("company", f.CompanyID, "dataset", f.DatasetID); err != nil {
		return err
	}
	if f.Validated.IsZero() || f.Now.IsZero() {
		return fmt.Errorf("finish dataset %s: a time is zero", f.DatasetID)
	}
	if f.Now.Before(f.Validated) {
		return fmt.Errorf("finish dataset %s: completed before it was validated", f.DatasetID)
	}
	if f.LeaseID != "" {
		if err := CheckID("agent", f.AgentID); err != nil {
			return fmt.Errorf("finish dataset %s: %w", f.DatasetID, err)
		}
		if f.Committed.IsZero() || f.Validated.Before(f.Committed) {
			return fmt.Errorf("finish dataset %s: validated before it was committed", f.DatasetID)
		}
		if !f.Mapped.IsZero() && f.Committed.Before(f.Mapped) {
			return fmt.Errorf("finish dataset %s: committed before it was mapped", f.DatasetID)
		}
		f.Committed, f.Mapped = f.Committed.UTC(), f.Mapped.UTC()
	} else if !f.Mapped.IsZero() || f.Page != nil {
		return fmt.Errorf("finish dataset %s: a page or a Mapping time without the agent's lease", f.DatasetID)
	}
	if p := f.Page; p != nil {
		if p.AgentID != f.AgentID || p.LeaseID != f.LeaseID || p.DatasetID != f.DatasetID {
			return fmt.Errorf("finish dataset %s: its page is not of its upload", f.DatasetID)
		}
		if p.N < 1 || p.Records < 1 || len(p.Data) == 0 {
			return fmt.Errorf("finish dataset %s: page %d without records", f.DatasetID, p.N)
		}
	}
	f.Validated, f.Now = f.Validated.UTC(), f.Now.UTC()
	return nil
}

// Finish is the states d goes through, in order, as its validation ends
// as f says: Processing at f.Validated then Complete at f.Now, or
// ValidationError at f.Validated with f.Failure as its message; with
// f.LeaseID, Validating at f.Committed first (CommitUpload), and before it,
// with f.Mapped and d still Fetching, the agent's own move to Mapping at
// f.Mapped (as its report would: the lease's agent is its mover). Each state
// is a dataset of its own (its timeline is not shared with the next), to
// be stored in turn. Without f.LeaseID, store.ErrTransition unless d is
// Validating. With it, the errors of CommitUpload; a commit sent again
// (d's CommittedLease is f.LeaseID) is no state at all and no error.
func Finish(d store.Dataset, f store.Finish) ([]store.Dataset, error) {
	var steps []store.Dataset
	if !f.Mapped.IsZero() && d.Status == dataset.Fetching && leaseHeld(d, f.AgentID, f.LeaseID) {
		if err := advance(&d, dataset.Agent, dataset.Mapping, f.Mapped, f.AgentID, ""); err != nil {
			return nil, err
		}
		steps = append(steps, d)
		d.Timeline = slices.Clone(d.Timeline)
	}
	if f.LeaseID != "" {
		changed, err := CommitUpload(&d, f.AgentID, f.LeaseID, f.Committed)
		if err != nil || !changed {
			return nil, err
		}
		steps = append(steps, d)
		d.Timeline = slices.Clone(d.Timeline)
	}
	if d.Status != dataset.Validating {
		return nil, fmt.Errorf("finish dataset %s (%s): %w", d.ID, d.Status, store.ErrTransition)
	}
	if f.Failure != "" {
		if err := End(&d, dataset.ValidationError, f.Validated, f.Failure); err != nil {
			return nil, err
		}
		return append(steps, d), nil
	}
	if err := End(&d, dataset.Processing, f.Validated, ""); err != nil {
		return nil, err
	}
	done := d
	done.Timeline = slices.Clone(d.Timeline)
	if err := End(&done, dataset.Complete, f.Now, ""); err != nil {
		return nil, err
	}
	return append(steps, d, done), nil
}
