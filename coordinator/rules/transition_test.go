package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// t0 is the time base of every test.
var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// held is a dataset in status s held by agent-1 under lease-1 until at(60),
// on attempt 1.
func held(s dataset.Status) store.Dataset {
	return store.Dataset{
		ID: "ds-1", CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.DataTypes[0],
		Status: s, Progress: store.StageProgress(s), Attempt: 1, Requested: at(0),
		LeaseID: "lease-1", LeaseAgent: "agent-1", LeaseExpires: at(60),
	}
}

// free is a dataset in status s that no lease holds.
func free(s dataset.Status) store.Dataset {
	d := held(s)
	RevokeLease(&d)
	return d
}

func agentReport(to dataset.Status) store.Report {
	return store.Report{CompanyID: "co-1", DatasetID: "ds-1", LeaseID: "lease-1", Actor: "agent-1", To: to, Now: at(10), Message: "by agent"}
}

func coordReport(to dataset.Status) store.Report {
	return store.Report{CompanyID: "co-1", DatasetID: "ds-1", Actor: store.ActorCoordinator, To: to, Now: at(10), Message: "by coordinator"}
}

func TestApplyReport(t *testing.T) {
	otherLease := agentReport(dataset.Mapping)
	otherLease.LeaseID = "lease-0"
	otherAgent := agentReport(dataset.Mapping)
	otherAgent.Actor = "agent-2"
	tests := []struct {
		name    string
		d       store.Dataset
		r       store.Report
		changed bool
		err     error
		want    dataset.Status
	}{
		{"agent maps", held(dataset.Fetching), agentReport(dataset.Mapping), true, nil, dataset.Mapping},
		{"agent fails the fetch", held(dataset.Fetching), agentReport(dataset.FetchError), true, nil, dataset.FetchError},
		{"agent not supported", held(dataset.Fetching), agentReport(dataset.NotSupported), true, nil, dataset.NotSupported},
		{"coordinator validates", free(dataset.Mapping), coordReport(dataset.Validating), true, nil, dataset.Validating},
		{"coordinator processes", free(dataset.Validating), coordReport(dataset.Processing), true, nil, dataset.Processing},
		{"coordinator completes", free(dataset.Processing), coordReport(dataset.Complete), true, nil, dataset.Complete},
		{"coordinator fails validation", free(dataset.Validating), coordReport(dataset.ValidationError), true, nil, dataset.ValidationError},
		{"stale: another lease", held(dataset.Fetching), otherLease, false, store.ErrStaleLease, dataset.Fetching},
		{"stale: another agent", held(dataset.Fetching), otherAgent, false, store.ErrStaleLease, dataset.Fetching},
		{"stale: lease revoked", free(dataset.Fetching), agentReport(dataset.Mapping), false, store.ErrStaleLease, dataset.Fetching},
		{"stale: same status, revoked", free(dataset.Mapping), agentReport(dataset.Mapping), false, store.ErrStaleLease, dataset.Mapping},
		{"resent under the lease", held(dataset.Mapping), agentReport(dataset.Mapping), false, nil, dataset.Mapping},
		{"resent final report", free(dataset.Complete), coordReport(dataset.Complete), false, nil, dataset.Complete},
		{"resent final report, lease gone", free(dataset.FetchError), agentReport(dataset.FetchError), false, nil, dataset.FetchError},
		{"after the end", free(dataset.Complete), coordReport(dataset.ProcessingError), false, store.ErrTransition, dataset.Complete},
		{"a report never requeues", free(dataset.Validating), coordReport(dataset.Queued), false, store.ErrTransition, dataset.Validating},
		{"a report never starts a fetch", free(dataset.Queued), coordReport(dataset.Fetching), false, store.ErrTransition, dataset.Queued},
		{"the agent cannot complete", held(dataset.Mapping), agentReport(dataset.Complete), false, store.ErrTransition, dataset.Mapping},
		{"the coordinator over a lease", held(dataset.Fetching), coordReport(dataset.Fetching), false, store.ErrTransition, dataset.Fetching},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			before := len(d.Timeline)
			changed, err := ApplyReport(&d, tt.r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error: got %v, want %v", err, tt.err)
			}
			if changed != tt.changed {
				t.Errorf("changed: got %v, want %v", changed, tt.changed)
			}
			if d.Status != tt.want {
				t.Errorf("status: got %s, want %s", d.Status, tt.want)
			}
			if !tt.changed {
				if len(d.Timeline) != before {
					t.Errorf("timeline: got %d entries, want %d", len(d.Timeline), before)
				}
				return
			}
			e := d.Timeline[len(d.Timeline)-1]
			want := store.Transition{At: at(10), From: tt.d.Status, To: tt.want, Actor: tt.r.Actor, Attempt: 1, Message: tt.r.Message}
			if e != want {
				t.Errorf("timeline entry: got %+v, want %+v", e, want)
			}
			if d.Progress != store.StageProgress(tt.want) {
				t.Errorf("progress: got %d, want %d", d.Progress, store.StageProgress(tt.want))
			}
			if tt.want.Terminal() != !d.Completed.IsZero() {
				t.Errorf("completed: got %v for %s", d.Completed, tt.want)
			}
			if tt.want.IsError() && d.ErrorMessage != tt.r.Message {
				t.Errorf("error message: got %q, want %q", d.ErrorMessage, tt.r.Message)
			}
			if !InFlight(tt.want) && d.LeaseID != "" {
				t.Errorf("lease: got %q, want none out of flight", d.LeaseID)
			}
		})
	}
}

func TestReportProgress(t *testing.T) {
	progress := func(s dataset.Status, p int) store.Report {
		r := agentReport(s)
		r.Progress = p
		return r
	}
	tests := []struct {
		name    string
		d       store.Dataset
		r       store.Report
		want    int
		changed bool
	}{
		{"raised", held(dataset.Fetching), progress(dataset.Fetching, 20), 20, true},
		{"kept within the stage", held(dataset.Fetching), progress(dataset.Fetching, 90), store.StageProgress(dataset.Mapping) - 1, true},
		{"kept within the last agent stage", held(dataset.Mapping), progress(dataset.Mapping, 99), store.StageProgress(dataset.Validating) - 1, true},
		{"never lowered", held(dataset.Mapping), progress(dataset.Mapping, 10), store.StageProgress(dataset.Mapping), false},
		{"a transition sets its stage's floor", held(dataset.Fetching), progress(dataset.Mapping, 70), store.StageProgress(dataset.Mapping), true},
	}
	for _, tt := range tests {
		d := tt.d
		changed, err := ApplyReport(&d, tt.r)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d.Progress != tt.want || changed != tt.changed {
			t.Errorf("%s: got progress %d changed %v, want %d %v", tt.name, d.Progress, changed, tt.want, tt.changed)
		}
	}
	if got := stageCeiling(dataset.Processing); got != 99 {
		t.Errorf("ceiling of the last stage: got %d, want 99", got)
	}
}

func TestReportWarnings(t *testing.T) {
	warn := func(n int) store.Warning { return store.Warning{RuleID: fmt.Sprint("rule-", n), Message: "noticed"} }
	d := held(dataset.Fetching)
	r := agentReport(dataset.Mapping)
	for i := range store.MaxWarnings - 1 {
		d.Warnings = append(d.Warnings, warn(i))
	}
	r.Warnings = []store.Warning{warn(0), warn(100), warn(101)}
	if _, err := ApplyReport(&d, r); err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings) != store.MaxWarnings {
		t.Fatalf("warnings: got %d, want the cap %d", len(d.Warnings), store.MaxWarnings)
	}
	if got := d.Warnings[store.MaxWarnings-1]; got != warn(100) {
		t.Errorf("last warning: got %v, want %v (a repeat is not added again)", got, warn(100))
	}

	// A report that changes nothing adds no warning.
	r = agentReport(dataset.Mapping)
	r.Warnings = []store.Warning{warn(200)}
	d = held(dataset.Mapping)
	if changed, err := ApplyReport(&d, r); err != nil || changed || len(d.Warnings) != 0 {
		t.Errorf("resent report: got changed %v, err %v, warnings %v; want nothing", changed, err, d.Warnings)
	}
}

func TestCheckReport(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		name string
		edit func(*store.Report)
		ok   bool
	}{
		{"well formed", func(*store.Report) {}, true},
		{"bad dataset id", func(r *store.Report) { r.DatasetID = "a/b" }, false},
		{"bad agent under a lease", func(r *store.Report) { r.Actor = "" }, false},
		{"unknown status", func(r *store.Report) { r.To = "Paused" }, false},
		{"progress 100", func(r *store.Report) { r.Progress = 100 }, false},
		{"negative progress", func(r *store.Report) { r.Progress = -1 }, false},
		{"no time", func(r *store.Report) { r.Now = time.Time{} }, false},
		{"too many warnings", func(r *store.Report) { r.Warnings = make([]store.Warning, store.MaxWarnings+1) }, false},
		{"long rule id", func(r *store.Report) { r.Warnings = []store.Warning{{RuleID: long, Message: "m"}} }, false},
	}
	for _, tt := range tests {
		r := agentReport(dataset.Mapping)
		tt.edit(&r)
		if err := CheckReport(r); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	r := agentReport(dataset.Mapping)
	r.DatasetID = ""
	if err := CheckReport(r); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty dataset id: got %v, want ErrNotFound", err)
	}
}

func TestClaim(t *testing.T) {
	c := store.ClaimRequest{DatasetID: "ds-1", AgentID: "agent-1", LeaseID: "lease-2", Now: at(5), TTL: time.Minute}
	conn := func(s store.ConnectionStatus, agent string) *store.Connection {
		return &store.Connection{ID: "conn-1", CompanyID: "co-1", Status: s, AgentID: agent}
	}
	tests := []struct {
		name      string
		d         store.Dataset
		conn      *store.Connection
		gate      store.SyncGate
		err       error
		withdrawn bool
		want      dataset.Status
	}{
		{"claimed", free(dataset.Queued), conn(store.Linked, "agent-1"), store.SyncGate{}, nil, false, dataset.Fetching},
		{"paused", free(dataset.Queued), conn(store.Linked, "agent-1"), store.SyncGate{PausedSince: at(1)}, store.ErrNotQueued, false, dataset.Queued},
		{"paused but withdrawn", free(dataset.Queued), conn(store.Deauthorized, "agent-1"), store.SyncGate{PausedSince: at(1)}, nil, true, dataset.AuthError},
		{"connection missing", free(dataset.Queued), nil, store.SyncGate{}, store.ErrNotFound, false, dataset.Queued},
		{"another agent's", free(dataset.Queued), conn(store.Linked, "agent-2"), store.SyncGate{}, store.ErrNotFound, false, dataset.Queued},
		{"pending auth", free(dataset.Queued), conn(store.PendingAuth, "agent-1"), store.SyncGate{}, store.ErrNotFound, false, dataset.Queued},
		{"not queued", held(dataset.Fetching), conn(store.Linked, "agent-1"), store.SyncGate{}, store.ErrNotQueued, false, dataset.Fetching},
		{"deauthorized", free(dataset.Queued), conn(store.Deauthorized, "agent-1"), store.SyncGate{}, nil, true, dataset.AuthError},
		{"unlinked", free(dataset.Queued), conn(store.Unlinked, "agent-1"), store.SyncGate{}, nil, true, dataset.AuthError},
	}
	for _, tt := range tests {
		d := tt.d
		withdrawn, err := Claim(&d, tt.conn, tt.gate, c)
		if !errors.Is(err, tt.err) || withdrawn != tt.withdrawn || d.Status != tt.want {
			t.Errorf("%s: got %s, withdrawn %v, err %v; want %s, %v, %v", tt.name, d.Status, withdrawn, err, tt.want, tt.withdrawn, tt.err)
		}
	}
	d := free(dataset.Queued)
	if _, err := Claim(&d, conn(store.Linked, "agent-1"), store.SyncGate{}, c); err != nil {
		t.Fatal(err)
	}
	if d.LeaseID != "lease-2" || d.LeaseAgent != "agent-1" || !d.LeaseExpires.Equal(at(65)) || d.Progress != store.StageProgress(dataset.Fetching) {
		t.Errorf("claimed: got lease %s of %s until %v, progress %d", d.LeaseID, d.LeaseAgent, d.LeaseExpires, d.Progress)
	}
	if e := d.Timeline[len(d.Timeline)-1]; e.Actor != "agent-1" || e.To != dataset.Fetching {
		t.Errorf("claimed: timeline entry %+v", e)
	}
}

func TestExpireLease(t *testing.T) {
	linked := &store.Connection{ID: "conn-1", Status: store.Linked}
	unlinked := &store.Connection{ID: "conn-1", Status: store.Unlinked}
	attempt := func(d store.Dataset, n int) store.Dataset { d.Attempt = n; return d }
	tests := []struct {
		name    string
		d       store.Dataset
		conn    *store.Connection
		now     time.Time
		expired bool
		want    dataset.Status
		attempt int
		msg     string
	}{
		{"not due yet", held(dataset.Fetching), linked, at(59), false, dataset.Fetching, 1, ""},
		{"not in flight", free(dataset.Validating), linked, at(600), false, dataset.Validating, 1, ""},
		{"requeued", held(dataset.Mapping), linked, at(60), true, dataset.Queued, 2, "lease of agent agent-1 expired"},
		{"revoked lease requeued", free(dataset.Fetching), linked, at(0), true, dataset.Queued, 2, "lease revoked"},
		{"last attempt fails", attempt(held(dataset.Fetching), store.MaxAttempts), linked, at(60), true, dataset.FetchError, store.MaxAttempts, store.MsgAgentOffline},
		{"connection withdrawn", held(dataset.Fetching), unlinked, at(60), true, dataset.AuthError, 2, "connection is no longer linked"},
		{"connection deleted", held(dataset.Fetching), nil, at(60), true, dataset.AuthError, 2, "connection is no longer linked"},
	}
	for _, tt := range tests {
		d := tt.d
		expired, err := ExpireLease(&d, tt.conn, tt.now)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if expired != tt.expired || d.Status != tt.want || d.Attempt != tt.attempt {
			t.Errorf("%s: got %v, %s, attempt %d; want %v, %s, %d", tt.name, expired, d.Status, d.Attempt, tt.expired, tt.want, tt.attempt)
		}
		if tt.expired {
			if e := d.Timeline[len(d.Timeline)-1]; e.Message != tt.msg {
				t.Errorf("%s: last entry %q, want %q", tt.name, e.Message, tt.msg)
			}
			if d.LeaseID != "" || d.Progress != store.StageProgress(d.Status) {
				t.Errorf("%s: lease %q, progress %d after expiry", tt.name, d.LeaseID, d.Progress)
			}
		}
	}
}

func TestEndWork(t *testing.T) {
	tests := []struct {
		d       store.Dataset
		changed bool
		want    dataset.Status
		lease   bool
	}{
		{free(dataset.Queued), true, dataset.AuthError, false},
		{held(dataset.Fetching), true, dataset.Fetching, false},
		{held(dataset.Mapping), true, dataset.Mapping, false},
		{free(dataset.Validating), false, dataset.Validating, false},
		{free(dataset.Complete), false, dataset.Complete, false},
	}
	for _, tt := range tests {
		d := tt.d
		changed, err := EndWork(&d, at(5), "connection is Unlinked")
		if err != nil || changed != tt.changed || d.Status != tt.want || (d.LeaseID != "") != tt.lease {
			t.Errorf("%s: got %s changed %v lease %q err %v; want %s %v", tt.d.Status, d.Status, changed, d.LeaseID, err, tt.want, tt.changed)
		}
	}
}

func TestQueue(t *testing.T) {
	q := store.QueueRequest{ID: "ds-1", CompanyID: "co-1", ConnectionID: "conn-1", DataType: dataset.DataTypes[0], Now: at(0), Message: "queued by test"}
	tests := []struct {
		status store.ConnectionStatus
		err    error
		want   dataset.Status
		steps  int
	}{
		{store.Linked, nil, dataset.Queued, 1},
		{store.PendingAuth, nil, dataset.Queued, 1},
		{store.Deauthorized, nil, dataset.AuthError, 2},
		{store.Unlinked, store.ErrUnlinked, "", 0},
	}
	for _, tt := range tests {
		d, err := Queue(q, store.Connection{ID: "conn-1", Status: tt.status})
		if !errors.Is(err, tt.err) || d.Status != tt.want || len(d.Timeline) != tt.steps {
			t.Errorf("%s: got %s with %d entries, err %v; want %s, %d, %v", tt.status, d.Status, len(d.Timeline), err, tt.want, tt.steps, tt.err)
		}
	}
	d := newDataset(q)
	want := store.Transition{At: at(0), To: dataset.Queued, Actor: store.ActorCoordinator, Attempt: 1, Message: "queued by test"}
	if d.Attempt != 1 || d.Timeline[0] != want {
		t.Errorf("new dataset: attempt %d, entry %+v; want 1, %+v", d.Attempt, d.Timeline[0], want)
	}
}

func TestCommitUpload(t *testing.T) {
	committed := free(dataset.Validating)
	committed.CommittedLease = "lease-1"
	tests := []struct {
		name    string
		d       store.Dataset
		lease   string
		changed bool
		err     error
	}{
		{"committed", held(dataset.Mapping), "lease-1", true, nil},
		{"sent again", committed, "lease-1", false, nil},
		{"still fetching", held(dataset.Fetching), "lease-1", false, store.ErrTransition},
		{"stale", held(dataset.Mapping), "lease-0", false, store.ErrStaleLease},
	}
	for _, tt := range tests {
		d := tt.d
		changed, err := CommitUpload(&d, "agent-1", tt.lease, at(9))
		if changed != tt.changed || !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, %v; want %v, %v", tt.name, changed, err, tt.changed, tt.err)
		}
		if tt.changed && (d.Status != dataset.Validating || d.CommittedLease != tt.lease || d.LeaseID != "") {
			t.Errorf("%s: got %s, committed %q, lease %q", tt.name, d.Status, d.CommittedLease, d.LeaseID)
		}
	}
}

func TestCountChange(t *testing.T) {
	tests := []struct {
		from, to dataset.Status
		want     string
	}{
		{"", dataset.Queued, "map[Queued:1]"},
		{dataset.Queued, dataset.Fetching, "map[Fetching:1 Queued:-1]"},
		{dataset.Processing, dataset.Complete, "map[Complete:1 Processing:-1]"},
		{dataset.Complete, "", "map[Complete:-1]"},
		{dataset.Mapping, dataset.Mapping, "map[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(CountChange(tt.from, tt.to)); got != tt.want {
			t.Errorf("%q to %q: got %s, want %s", tt.from, tt.to, got, tt.want)
		}
	}
	if CountChange(dataset.Mapping, dataset.Mapping) != nil {
		t.Error("no move: got a delta, want nil")
	}
}

func TestPagesAndCompletion(t *testing.T) {
	mapped := free(dataset.Processing)
	mapped.Timeline = []store.Transition{{To: dataset.Queued}, {To: dataset.Fetching}, {To: dataset.Mapping}}
	failedFetch := free(dataset.Fetching)
	done := mapped
	done.Status = dataset.Complete
	fetchErr := failedFetch
	fetchErr.Status = dataset.FetchError
	if !PagesEnded(&mapped, &done) || PagesEnded(&failedFetch, &fetchErr) || PagesEnded(&done, &done) || PagesEnded(nil, &done) {
		t.Error("PagesEnded: want true only for a dataset that mapped and just ended")
	}
	if !Completes(&mapped, &done) || Completes(&done, &done) || Completes(&failedFetch, &fetchErr) || !Completes(nil, &done) {
		t.Error("Completes: want true only on reaching Complete")
	}
}

func TestAgentsDatasetAndStaging(t *testing.T) {
	d := held(dataset.Mapping)
	for _, tt := range []struct {
		name string
		conn *store.Connection
		err  error
	}{
		{"bound", &store.Connection{AgentID: "agent-1"}, nil},
		{"another agent's", &store.Connection{AgentID: "agent-2"}, store.ErrNotFound},
		{"unbound", &store.Connection{}, store.ErrNotFound},
		{"connection deleted", nil, store.ErrNotFound},
	} {
		if err := AgentsDataset(d, tt.conn, "agent-1"); !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.err)
		}
	}
	page := store.Page{AgentID: "agent-1", DatasetID: "ds-1", LeaseID: "lease-1", N: 1}
	stale := page
	stale.LeaseID = "lease-0"
	for _, tt := range []struct {
		name string
		d    store.Dataset
		p    store.Page
		err  error
	}{
		{"staged", held(dataset.Mapping), page, nil},
		{"still fetching", held(dataset.Fetching), page, store.ErrTransition},
		{"stale lease", held(dataset.Mapping), stale, store.ErrStaleLease},
		{"lease revoked", free(dataset.Mapping), page, store.ErrStaleLease},
	} {
		if err := CanStage(tt.d, tt.p); !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestFinish(t *testing.T) {
	f := store.Finish{CompanyID: "co-1", DatasetID: "ds-1", Validated: at(20), Now: at(21)}
	d := free(dataset.Validating)
	d.Timeline = []store.Transition{{At: at(10), To: dataset.Validating}}
	steps, err := Finish(d, f)
	if err != nil || len(steps) != 2 {
		t.Fatalf("Finish: %d steps, %v; want 2", len(steps), err)
	}
	mid, done := steps[0], steps[1]
	if mid.Status != dataset.Processing || len(mid.Timeline) != 2 || !mid.Timeline[1].At.Equal(at(20)) || !mid.Completed.IsZero() {
		t.Errorf("first step: %s, timeline %+v, completed %v; want Processing at(20)", mid.Status, mid.Timeline, mid.Completed)
	}
	if done.Status != dataset.Complete || len(done.Timeline) != 3 || !done.Timeline[2].At.Equal(at(21)) ||
		done.Timeline[2].From != dataset.Processing || !done.Completed.Equal(at(21)) || done.Progress != 100 {
		t.Errorf("second step: %s, timeline %+v, completed %v; want Complete at(21) from Processing", done.Status, done.Timeline, done.Completed)
	}
	if len(d.Timeline) != 1 {
		t.Errorf("Finish changed the dataset it was given: %d timeline entries", len(d.Timeline))
	}

	f.Failure = "2 validation errors"
	steps, err = Finish(d, f)
	if err != nil || len(steps) != 1 || steps[0].Status != dataset.ValidationError || steps[0].ErrorMessage != f.Failure ||
		!steps[0].Completed.Equal(at(20)) {
		t.Errorf("Finish failing: %+v, %v; want one step, ValidationError at(20) with the message", steps, err)
	}

	for _, s := range []dataset.Status{dataset.Queued, dataset.Mapping, dataset.Processing, dataset.Complete} {
		if _, err := Finish(free(s), f); !errors.Is(err, store.ErrTransition) {
			t.Errorf("Finish of a %s dataset: %v, want ErrTransition", s, err)
		}
	}
}

func TestCheckFinish(t *testing.T) {
	good := store.Finish{CompanyID: "co-1", DatasetID: "ds-1", Validated: at(20), Now: at(20)}
	if err := CheckFinish(&good); err != nil {
		t.Errorf("CheckFinish(good): %v", err)
	}
	bad := map[string]func(*store.Finish){
		"bad dataset id":          func(f *store.Finish) { f.DatasetID = "a/b" },
		"no company":              func(f *store.Finish) { f.CompanyID = "" },
		"zero validated":          func(f *store.Finish) { f.Validated = time.Time{} },
		"zero now":                func(f *store.Finish) { f.Now = time.Time{} },
		"complete before checked": func(f *store.Finish) { f.Now = at(19) },
	}
	for name, change := range bad {
		f := good
		change(&f)
		if err := CheckFinish(&f); err == nil {
			t.Errorf("CheckFinish(%s): no error", name)
		}
	}
}
